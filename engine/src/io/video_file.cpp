// Clips as MP4 / WebM through FFmpeg's libraries (libavformat muxes, libavcodec encodes with libx264 or
// libvpx, libswscale scales and converts RGB to YUV 4:2:0), and any clip file decoded back to RGB frames.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <unistd.h>

#if ATELIER_HAVE_FFMPEG
extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
}
#endif

#include "atelier/error.h"
#include "atelier/video.h"

namespace atelier {

namespace {

namespace fs = std::filesystem;

std::string lower_extension(const std::string& path) {
    std::string ext = fs::path(path).extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    return ext;
}

#if ATELIER_HAVE_FFMPEG
// FFmpeg's own log would print codec chatter on stderr; our errors carry the message instead.
void quiet_ffmpeg_log() {
    static const bool once = [] {
        av_log_set_level(AV_LOG_FATAL);
        return true;
    }();
    (void)once;
}

std::string av_message(int code) {
    char text[AV_ERROR_MAX_STRING_SIZE] = {};
    av_strerror(code, text, sizeof text);
    return text;
}

// Owners for FFmpeg's C objects, so every error path frees them.
struct FormatOutput {
    AVFormatContext* ctx = nullptr;
    ~FormatOutput() {
        if (!ctx) return;
        if (ctx->pb) avio_closep(&ctx->pb);
        avformat_free_context(ctx);
    }
};
struct FormatInput {
    AVFormatContext* ctx = nullptr;
    ~FormatInput() { avformat_close_input(&ctx); }
};
struct CodecContext {
    AVCodecContext* ctx = nullptr;
    ~CodecContext() { avcodec_free_context(&ctx); }
};
struct Frame {
    AVFrame* f = av_frame_alloc();
    ~Frame() { av_frame_free(&f); }
};
struct Packet {
    AVPacket* p = av_packet_alloc();
    ~Packet() { av_packet_free(&p); }
};
struct Scaler {
    SwsContext* ctx = nullptr;
    ~Scaler() { sws_freeContext(ctx); }
};

const AVCodec* find_encoder(const std::string& ext, std::string& label) {
    // The preferred encoder by name (quality and speed), then whatever this FFmpeg has for the format.
    if (ext == ".mp4") {
        label = "MP4";
        if (const AVCodec* c = avcodec_find_encoder_by_name("libx264")) return c;
        return avcodec_find_encoder(AV_CODEC_ID_H264);
    }
    label = "WebM";
    if (const AVCodec* c = avcodec_find_encoder_by_name("libvpx-vp9")) return c;
    return avcodec_find_encoder(AV_CODEC_ID_VP8);
}

void check_frames(const std::vector<Image>& frames, const std::string& label) {
    if (frames.empty()) throw Error(label + ": no frames");
    for (size_t i = 0; i < frames.size(); ++i) {
        const Image& f = frames[i];
        if (f.width != frames[0].width || f.height != frames[0].height)
            throw Error(label + ": frame " + std::to_string(i) + " is " + std::to_string(f.width) + "x" +
                        std::to_string(f.height) + ", frame 0 is " + std::to_string(frames[0].width) + "x" +
                        std::to_string(frames[0].height));
        if (f.channels != 1 && f.channels != 3 && f.channels != 4)
            throw Error(label + ": frame " + std::to_string(i) + " has " + std::to_string(f.channels) + " channels");
        if (f.width < 1 || f.height < 1 || f.pixels.size() != size_t(f.width) * size_t(f.height) * size_t(f.channels))
            throw Error(label + ": frame " + std::to_string(i) + " has no valid pixels");
    }
}

AVPixelFormat pixel_format_of(int channels) {
    return channels == 1 ? AV_PIX_FMT_GRAY8 : channels == 3 ? AV_PIX_FMT_RGB24 : AV_PIX_FMT_RGBA;
}

// Sends one frame (or the end of the stream: nullptr) and writes every packet the encoder returns.
void encode_and_write(AVCodecContext* enc, AVStream* stream, AVFormatContext* fmt, const AVFrame* frame,
                      const std::string& where) {
    int rc = avcodec_send_frame(enc, frame);
    if (rc < 0) throw Error(where + ": encoding failed (" + av_message(rc) + ")");
    Packet pkt;
    while ((rc = avcodec_receive_packet(enc, pkt.p)) >= 0) {
        av_packet_rescale_ts(pkt.p, enc->time_base, stream->time_base);
        pkt.p->stream_index = stream->index;
        rc = av_interleaved_write_frame(fmt, pkt.p);
        if (rc < 0) throw Error(where + ": cannot write (" + av_message(rc) + ")");
    }
    if (rc != AVERROR(EAGAIN) && rc != AVERROR_EOF) throw Error(where + ": encoding failed (" + av_message(rc) + ")");
}

void write_video(const std::string& path, const std::string& tmp, const std::vector<Image>& frames,
                 const ClipOptions& o, const std::string& ext) {
    std::string label;
    const AVCodec* codec = find_encoder(ext, label);
    const std::string where = label + " " + path;
    if (!codec) throw Error(where + ": this FFmpeg build has no " + (ext == ".mp4" ? "H.264" : "VP9/VP8") + " encoder");
    check_frames(frames, label);
    if (!(o.fps > 0) || o.fps > 240) throw Error(where + ": fps must be in (0, 240], not " + std::to_string(o.fps));

    const int w = frames[0].width, h = frames[0].height;
    const int factor = std::max(1, int(std::ceil(double(std::max(o.min_side, 1)) / double(std::min(w, h)))));
    const int out_w = (w * factor + 1) / 2 * 2, out_h = (h * factor + 1) / 2 * 2;  // 4:2:0 needs even sizes

    FormatOutput fmt;
    int rc = avformat_alloc_output_context2(&fmt.ctx, nullptr, ext == ".mp4" ? "mp4" : "webm", tmp.c_str());
    if (rc < 0 || !fmt.ctx) throw Error(where + ": no " + label + " muxer (" + av_message(rc) + ")");
    AVStream* stream = avformat_new_stream(fmt.ctx, nullptr);
    if (!stream) throw Error(where + ": cannot add a video stream");

    CodecContext enc;
    enc.ctx = avcodec_alloc_context3(codec);
    if (!enc.ctx) throw Error(where + ": out of memory");
    const AVRational rate = av_d2q(o.fps, 100000);
    enc.ctx->width = out_w;
    enc.ctx->height = out_h;
    enc.ctx->pix_fmt = AV_PIX_FMT_YUV420P;
    enc.ctx->time_base = av_inv_q(rate);
    enc.ctx->framerate = rate;
    enc.ctx->gop_size = std::max(1, int(std::lround(o.fps)) * 2);
    if (fmt.ctx->oformat->flags & AVFMT_GLOBALHEADER) enc.ctx->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    const std::string crf = std::to_string(std::clamp(o.quality, 0, 51));
    av_opt_set(enc.ctx->priv_data, "crf", crf.c_str(), 0);
    if (std::strcmp(codec->name, "libx264") == 0) av_opt_set(enc.ctx->priv_data, "preset", "medium", 0);
    if (std::strncmp(codec->name, "libvpx", 6) == 0) {
        enc.ctx->bit_rate = 0;  // constant quality
        av_opt_set(enc.ctx->priv_data, "deadline", "good", 0);
        av_opt_set(enc.ctx->priv_data, "cpu-used", "4", 0);
    }
    rc = avcodec_open2(enc.ctx, codec, nullptr);
    if (rc < 0) throw Error(where + ": cannot open the " + codec->name + " encoder (" + av_message(rc) + ")");
    rc = avcodec_parameters_from_context(stream->codecpar, enc.ctx);
    if (rc < 0) throw Error(where + ": " + av_message(rc));
    stream->time_base = enc.ctx->time_base;
    stream->avg_frame_rate = rate;

    rc = avio_open(&fmt.ctx->pb, tmp.c_str(), AVIO_FLAG_WRITE);
    if (rc < 0) throw Error(where + ": cannot create the file (" + av_message(rc) + ")");
    AVDictionary* mux_options = nullptr;
    if (ext == ".mp4") av_dict_set(&mux_options, "movflags", "+faststart", 0);  // playable while downloading
    rc = avformat_write_header(fmt.ctx, &mux_options);
    av_dict_free(&mux_options);
    if (rc < 0) throw Error(where + ": cannot write the header (" + av_message(rc) + ")");

    Scaler scaler;
    scaler.ctx = sws_getContext(w, h, pixel_format_of(frames[0].channels), out_w, out_h, AV_PIX_FMT_YUV420P,
                                SWS_POINT, nullptr, nullptr, nullptr);
    if (!scaler.ctx) throw Error(where + ": cannot convert " + std::to_string(w) + "x" + std::to_string(h) + " frames");
    Frame yuv;
    yuv.f->format = AV_PIX_FMT_YUV420P;
    yuv.f->width = out_w;
    yuv.f->height = out_h;
    rc = av_frame_get_buffer(yuv.f, 0);
    if (rc < 0) throw Error(where + ": out of memory");
    for (size_t i = 0; i < frames.size(); ++i) {
        rc = av_frame_make_writable(yuv.f);
        if (rc < 0) throw Error(where + ": " + av_message(rc));
        const uint8_t* src[1] = {frames[i].pixels.data()};
        const int src_stride[1] = {frames[i].width * frames[i].channels};
        sws_scale(scaler.ctx, src, src_stride, 0, h, yuv.f->data, yuv.f->linesize);
        yuv.f->pts = int64_t(i);
        encode_and_write(enc.ctx, stream, fmt.ctx, yuv.f, where);
    }
    encode_and_write(enc.ctx, stream, fmt.ctx, nullptr, where);
    rc = av_write_trailer(fmt.ctx);
    if (rc < 0) throw Error(where + ": cannot finish the file (" + av_message(rc) + ")");
    rc = avio_closep(&fmt.ctx->pb);
    if (rc < 0) throw Error(where + ": cannot close the file (" + av_message(rc) + ")");
}

#else
void quiet_ffmpeg_log() {}

[[noreturn]] void no_ffmpeg(const std::string& path) {
    throw Error(path + ": this build of Atelier has no FFmpeg (configured with -DATELIER_WITH_FFMPEG=OFF): "
                       "clips are GIF only");
}

void write_video(const std::string& path, const std::string&, const std::vector<Image>&, const ClipOptions&,
                 const std::string&) {
    no_ffmpeg(path);
}
#endif

}  // namespace

#if ATELIER_HAVE_FFMPEG
std::vector<std::string> clip_extensions() { return {".gif", ".mp4", ".webm"}; }
#else
std::vector<std::string> clip_extensions() { return {".gif"}; }
#endif

void write_clip(const std::string& path, const std::vector<Image>& frames, const ClipOptions& options) {
    quiet_ffmpeg_log();
    const std::string ext = lower_extension(path);
    if (ext == ".gif") {
        GifOptions gif;
        gif.fps = options.fps;
        gif.loop_count = options.loop_count;
        write_gif(path, frames, gif);
        return;
    }
    if (ext != ".mp4" && ext != ".webm")
        throw Error(path + ": unknown clip format '" + ext + "' (expected .gif, .mp4 or .webm)");
    // Encode into a temporary file beside the target and rename it: a failure (full disk, cancel) leaves
    // neither a partial clip nor a damaged earlier one.
    const std::string tmp = path + ".partial-" + std::to_string(::getpid()) + ext;
    try {
        write_video(path, tmp, frames, options, ext);
    } catch (...) {
        std::error_code ignored;
        fs::remove(tmp, ignored);
        throw;
    }
    std::error_code ec;
    fs::rename(tmp, path, ec);
    if (ec) {
        fs::remove(tmp, ec);
        throw Error(path + ": cannot move the finished clip into place (" + ec.message() + ")");
    }
}

DecodedClip read_clip(const std::string& path) {
#if !ATELIER_HAVE_FFMPEG
    no_ffmpeg(path);
#else
    quiet_ffmpeg_log();
    FormatInput in;
    int rc = avformat_open_input(&in.ctx, path.c_str(), nullptr, nullptr);
    if (rc < 0) throw Error(path + ": cannot open the clip (" + av_message(rc) + ")");
    rc = avformat_find_stream_info(in.ctx, nullptr);
    if (rc < 0) throw Error(path + ": not a readable clip (" + av_message(rc) + ")");
    const AVCodec* codec = nullptr;
    const int index = av_find_best_stream(in.ctx, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (index < 0 || !codec) throw Error(path + ": no video stream");
    AVStream* stream = in.ctx->streams[index];
    CodecContext dec;
    dec.ctx = avcodec_alloc_context3(codec);
    if (!dec.ctx) throw Error(path + ": out of memory");
    avcodec_parameters_to_context(dec.ctx, stream->codecpar);
    rc = avcodec_open2(dec.ctx, codec, nullptr);
    if (rc < 0) throw Error(path + ": cannot open the " + codec->name + " decoder (" + av_message(rc) + ")");

    DecodedClip clip;
    const AVRational rate = stream->avg_frame_rate.num ? stream->avg_frame_rate : stream->r_frame_rate;
    clip.fps = rate.num && rate.den ? av_q2d(rate) : 0;
    Scaler scaler;
    Frame frame;
    Packet pkt;
    auto drain = [&] {
        while ((rc = avcodec_receive_frame(dec.ctx, frame.f)) >= 0) {
            scaler.ctx = sws_getCachedContext(scaler.ctx, frame.f->width, frame.f->height, AVPixelFormat(frame.f->format),
                                              frame.f->width, frame.f->height, AV_PIX_FMT_RGB24, SWS_POINT, nullptr,
                                              nullptr, nullptr);
            if (!scaler.ctx) throw Error(path + ": cannot convert the decoded frames to RGB");
            Image im;
            im.width = frame.f->width;
            im.height = frame.f->height;
            im.channels = 3;
            im.pixels.resize(size_t(im.width) * size_t(im.height) * 3);
            uint8_t* dst[1] = {im.pixels.data()};
            const int dst_stride[1] = {im.width * 3};
            sws_scale(scaler.ctx, frame.f->data, frame.f->linesize, 0, im.height, dst, dst_stride);
            clip.frames.push_back(std::move(im));
        }
        if (rc != AVERROR(EAGAIN) && rc != AVERROR_EOF) throw Error(path + ": damaged clip (" + av_message(rc) + ")");
    };
    while ((rc = av_read_frame(in.ctx, pkt.p)) >= 0) {
        if (pkt.p->stream_index == index) {
            rc = avcodec_send_packet(dec.ctx, pkt.p);
            av_packet_unref(pkt.p);
            if (rc < 0) throw Error(path + ": damaged clip (" + av_message(rc) + ")");
            drain();
        } else {
            av_packet_unref(pkt.p);
        }
    }
    if (rc != AVERROR_EOF) throw Error(path + ": damaged clip (" + av_message(rc) + ")");
    avcodec_send_packet(dec.ctx, nullptr);
    drain();
    if (clip.frames.empty()) throw Error(path + ": the clip has no frames");
    if (stream->nb_frames > 0 && int64_t(clip.frames.size()) < stream->nb_frames)
        throw Error(path + ": truncated clip (" + std::to_string(clip.frames.size()) + " of " +
                    std::to_string(stream->nb_frames) + " frames)");
    return clip;
#endif
}

}  // namespace atelier
