// atelier/video.h - clips (a list of equally sized frames) as animated GIF or numbered PNG files.
//
//   atelier::GenerateRequest request;          // see engine.h
//   request.frames = 16;
//   auto result = atelier::generate(*model, request);   // model with a motion module
//   // frame f of clip b is result.images[b * result.frames + f]
//   std::vector<atelier::Image> clip(result.images.begin(), result.images.begin() + result.frames);
//   atelier::GifOptions gif;
//   gif.fps = 8;
//   atelier::write_gif("clip.gif", clip, gif);
//
// GIF: our own GIF89a encoder (no extra dependency): one global 256-colour palette for the whole clip
// (the exact colours when the clip has at most 256, else median cut over all frames, weighted by pixel
// counts), no dithering (dither noise flickers from frame to frame), LZW with 12-bit codes, looping via
// the NETSCAPE2.0 extension. Functions are thread-safe; errors throw atelier::Error.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "atelier/image.h"

namespace atelier {

struct GifOptions {
    double fps = 8;      // frame delays are whole centiseconds; rounding is carried so the total stays exact
    int loop_count = 0;  // 0: loop forever; N: play N + 1 times (NETSCAPE2.0 semantics)
};

// Frames of 1, 3 or 4 channels (alpha ignored), all of the same size.
std::vector<uint8_t> encode_gif(const std::vector<Image>& frames, const GifOptions& options = {});
// Writes atomically (temporary file + rename).
void write_gif(const std::string& path, const std::vector<Image>& frames, const GifOptions& options = {});

// Writes DIR/PREFIX-000.png, -001, ... (DIR is created); each PNG gets the `text` chunks. Returns the paths.
std::vector<std::string> write_png_frames(const std::string& dir, const std::vector<Image>& frames,
                                          const std::map<std::string, std::string>& text = {},
                                          const std::string& prefix = "frame");

// The centisecond delay of each of `count` frames at `fps` (what encode_gif writes).
std::vector<int> gif_frame_delays_cs(size_t count, double fps);

}  // namespace atelier
