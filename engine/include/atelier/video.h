// atelier/video.h - clips (a list of equally sized frames) as animated GIF, MP4, WebM or numbered PNG files.
//
//   atelier::GenerateRequest request;          // see engine.h
//   request.frames = 16;
//   auto result = atelier::generate(*model, request);   // model with a motion module
//   // frame f of clip b is result.images[b * result.frames + f]
//   std::vector<atelier::Image> clip(result.images.begin(), result.images.begin() + result.frames);
//   atelier::GifOptions gif;
//   gif.fps = 8;
//   atelier::write_gif("clip.gif", clip, gif);
//   atelier::write_clip("clip.mp4", clip);   // the format from the extension: .gif, .mp4 or .webm
//
// GIF: our own GIF89a encoder (no extra dependency): one global 256-colour palette for the whole clip
// (the exact colours when the clip has at most 256, else median cut over all frames, weighted by pixel
// counts), no dithering (dither noise flickers from frame to frame), LZW with 12-bit codes, looping via
// the NETSCAPE2.0 extension.
// MP4 (H.264, yuv420p, +faststart) and WebM (VP9) through FFmpeg's libraries as Debian ships them
// (libavcodec with libx264 and libvpx): the formats every browser, player and slide tool opens. Tiny frames
// are scaled up by a whole factor (nearest neighbour, crisp pixels) so players do not blur a 64x64 clip.
// Functions are thread-safe; errors throw atelier::Error naming the file; a failed write leaves no file.
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

struct ClipOptions {
    double fps = 8;
    int min_side = 256;  // MP4/WebM: frames scaled up by the smallest whole factor reaching this short side
    int quality = 18;    // MP4/WebM: constant-rate factor (lower is better; 18 is visually lossless for x264)
    int loop_count = 0;  // GIF only (see GifOptions)
};
// Writes `frames` as a GIF, MP4 or WebM file, chosen by the path's extension (case-insensitive).
void write_clip(const std::string& path, const std::vector<Image>& frames, const ClipOptions& options = {});
// The extensions write_clip understands, with the dot: ".gif", ".mp4", ".webm".
std::vector<std::string> clip_extensions();

// A clip file read back (any format FFmpeg decodes: GIF, MP4, WebM, ...): RGB frames and frames per second.
struct DecodedClip {
    std::vector<Image> frames;
    double fps = 0;
};
DecodedClip read_clip(const std::string& path);

// Writes DIR/PREFIX-000.png, -001, ... (DIR is created); each PNG gets the `text` chunks. Returns the paths.
std::vector<std::string> write_png_frames(const std::string& dir, const std::vector<Image>& frames,
                                          const std::map<std::string, std::string>& text = {},
                                          const std::string& prefix = "frame");

// The centisecond delay of each of `count` frames at `fps` (what encode_gif writes).
std::vector<int> gif_frame_delays_cs(size_t count, double fps);

}  // namespace atelier
