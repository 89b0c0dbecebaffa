// atelier/prompt_travel.h - a clip whose prompt changes over its frames ("prompt travel").
//
// The syntax is the one AnimateDiff users write in the A1111 extension (sd-webui-animatediff):
//
//     a red star on a plain blue background        <- head (optional, any number of lines)
//     0: on the right                              <- keyframes "FRAME: text", frames ascending
//     15: on the left
//     outlined                                      <- tail (optional, any number of lines)
//
// Keyframe k's prompt is "head, text, tail" (the parts that are empty left out). Frames before the first
// keyframe use its prompt, frames after the last one the last's; in between the text encoder's outputs of
// the two neighbouring keyframes are interpolated (spherical, as the extension does). A prompt without
// keyframe lines is an ordinary prompt. Still images use the prompt of frame 0.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace atelier {

struct PromptKeyframe {
    int frame = 0;
    std::string prompt;  // head, text and tail joined
};

struct PromptTravel {
    std::vector<PromptKeyframe> keyframes;  // ascending frames, at least one
    // The keyframes before and after `frame` and how far it lies between them (0: at `before`).
    struct Position {
        size_t before = 0, after = 0;
        double t = 0;
    };
    Position at(int frame) const;
};

// nullopt when the text has no keyframe line. Throws atelier::Error naming the line for keyframes out of
// order, a repeated frame, or keyframe lines that do not follow one another.
std::optional<PromptTravel> parse_prompt_travel(const std::string& text);

// Checks the keyframes against a clip of `frames` frames (each keyframe < frames); throws atelier::Error.
void check_prompt_travel(const PromptTravel& travel, int frames);

// The prompt of frame 0: the text itself when it holds no keyframes.
std::string first_frame_prompt(const std::string& text);

// Appends a phrase to the whole prompt: for a prompt-travel text, to its tail (every keyframe gets it).
std::string append_to_prompt(const std::string& text, const std::string& phrase);

}  // namespace atelier
