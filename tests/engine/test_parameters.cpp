// labels: fast
// links: core
// A1111 "parameters" text: our format, and real-looking stable-diffusion-webui strings read back.
#include <doctest/doctest.h>

#include "atelier/engine.h"
#include "atelier/error.h"

using atelier::GenerationParams;

TEST_CASE("format_parameters writes webui's layout") {
    GenerationParams p;
    p.prompt = "a photo of a cat";
    p.negative_prompt = "blurry, lowres";
    p.seed = 1234;
    p.steps = 20;
    p.guidance = 7.5f;
    p.sampler = "euler_a";
    p.width = 512;
    p.height = 768;
    p.model_id = "3f1a2b4c5d";
    p.model_name = "tiny-sd-a";
    CHECK(atelier::format_parameters(p) ==
          "a photo of a cat\nNegative prompt: blurry, lowres\n"
          "Steps: 20, Sampler: Euler a, CFG scale: 7.5, Seed: 1234, Size: 512x768, Model hash: 3f1a2b4c5d, "
          "Model: tiny-sd-a");

    p.negative_prompt.clear();
    p.sampler = "dpmpp_2m_karras";
    p.guidance = 7.0f;
    p.strength = 0.75f;
    p.clip_skip = 2;
    p.timestep_spacing = "trailing";
    p.model_name = "my model, v2";  // a comma: quoted as JSON
    CHECK(atelier::format_parameters(p) ==
          "a photo of a cat\n"
          "Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1234, Size: 512x768, "
          "Model hash: 3f1a2b4c5d, Model: \"my model, v2\", Denoising strength: 0.75, Clip skip: 2, "
          "Timestep spacing: trailing");
}

TEST_CASE("format -> parse round trip for every sampler") {
    for (const char* sampler : {"ddim", "euler", "euler_a", "dpmpp_2m", "dpmpp_2m_karras", "lcm"}) {
        GenerationParams p;
        p.prompt = "line one\nline two: with a colon";
        p.negative_prompt = "bad hands\nsecond negative line";
        p.seed = 18446744073709551615ull;
        p.steps = 4;
        p.guidance = 1.5f;
        p.sampler = sampler;
        p.timestep_spacing = "leading";
        p.width = 64;
        p.height = 72;
        p.clip_skip = 3;
        p.strength = 0.3f;
        p.model_id = "abcdef0123";
        p.model_name = "tiny: \"quoted\"";
        const GenerationParams q = atelier::parse_parameters(atelier::format_parameters(p));
        CAPTURE(sampler);
        CHECK(q.prompt == p.prompt);
        CHECK(q.negative_prompt == p.negative_prompt);
        CHECK(q.seed == p.seed);
        CHECK(q.steps == 4);
        CHECK(q.guidance == 1.5f);
        CHECK(q.sampler == sampler);
        CHECK(q.timestep_spacing == "leading");
        CHECK(q.width == 64);
        CHECK(q.height == 72);
        CHECK(q.clip_skip == 3);
        CHECK(q.strength == 0.3f);
        CHECK(q.model_id == "abcdef0123");
        CHECK(q.model_name == "tiny: \"quoted\"");
    }
}

TEST_CASE("parses real webui strings") {
    // webui 1.10 txt2img, new-style schedule type, extra fields we ignore.
    const std::string a =
        "masterpiece, best quality, 1girl, (red hair:1.2), looking at viewer, <lora:add_detail:0.6>\n"
        "Negative prompt: (worst quality, low quality:1.4), easynegative\n"
        "Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 2903582615, Size: 512x768, "
        "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Clip skip: 2, "
        "Lora hashes: \"add_detail: 7c6bad76eb54\", Version: v1.10.1";
    GenerationParams p = atelier::parse_parameters(a);
    CHECK(p.prompt == "masterpiece, best quality, 1girl, (red hair:1.2), looking at viewer, <lora:add_detail:0.6>");
    CHECK(p.negative_prompt == "(worst quality, low quality:1.4), easynegative");
    CHECK(p.steps == 28);
    CHECK(p.sampler == "dpmpp_2m_karras");
    CHECK(p.guidance == 7.0f);
    CHECK(p.seed == 2903582615ull);
    CHECK(p.width == 512);
    CHECK(p.height == 768);
    CHECK(p.model_id == "6ce0161689");
    CHECK(p.model_name == "v1-5-pruned-emaonly");
    CHECK(p.clip_skip == 2);
    CHECK(p.strength == 1.0f);

    // Older webui (1.5): sampler with "Karras" in its name, img2img, hires fields, no negative prompt.
    const std::string b =
        "portrait of an old sailor, oil painting\n"
        "Steps: 30, Sampler: DPM++ 2M Karras, CFG scale: 6.5, Seed: 42, Size: 768x512, Model hash: e1441589a6, "
        "Model: sd-v1-5, Denoising strength: 0.55, Hires upscale: 2, Hires upscaler: Latent, Version: v1.5.1";
    p = atelier::parse_parameters(b);
    CHECK(p.prompt == "portrait of an old sailor, oil painting");
    CHECK(p.negative_prompt.empty());
    CHECK(p.sampler == "dpmpp_2m_karras");
    CHECK(p.guidance == 6.5f);
    CHECK(p.strength == 0.55f);
    CHECK(p.width == 768);
    CHECK(p.height == 512);

    // Euler a, multi-line prompt, Windows line ends, schedule type Automatic.
    const std::string c =
        "a cozy cabin in the woods,\r\nsnow, night\r\nNegative prompt: people\r\n"
        "Steps: 20, Sampler: Euler a, Schedule type: Automatic, CFG scale: 7, Seed: 1, Size: 512x512, "
        "Model hash: 0123456789, Model: dreamshaper_8";
    p = atelier::parse_parameters(c);
    CHECK(p.prompt == "a cozy cabin in the woods,\nsnow, night");
    CHECK(p.negative_prompt == "people");
    CHECK(p.sampler == "euler_a");
    CHECK(p.model_name == "dreamshaper_8");

    // A sampler we do not have is kept as written.
    p = atelier::parse_parameters("x\nSteps: 20, Sampler: UniPC, CFG scale: 7, Seed: 5, Size: 512x512");
    CHECK(p.sampler == "UniPC");
    p = atelier::parse_parameters("x\nSteps: 8, Sampler: LCM, CFG scale: 1.5, Seed: 5, Size: 512x512");
    CHECK(p.sampler == "lcm");
    p = atelier::parse_parameters("x\nSteps: 8, Sampler: DDIM, CFG scale: 1, Seed: 5, Size: 512x512");
    CHECK(p.sampler == "ddim");
    p = atelier::parse_parameters("x\nSteps: 8, Sampler: Euler, CFG scale: 1, Seed: 5, Size: 512x512");
    CHECK(p.sampler == "euler");
}

TEST_CASE("text it cannot read throws atelier::Error naming the field") {
    CHECK_THROWS_AS(atelier::parse_parameters("just a prompt"), atelier::Error);
    CHECK_THROWS_AS(atelier::parse_parameters(""), atelier::Error);
    CHECK_THROWS_WITH_AS(atelier::parse_parameters("p\nSteps: many, Sampler: Euler, CFG scale: 7, Seed: 1"),
                         doctest::Contains("Steps"), atelier::Error);
    CHECK_THROWS_WITH_AS(atelier::parse_parameters("p\nSteps: 2, Sampler: Euler, CFG scale: 7, Size: 512"),
                         doctest::Contains("Size"), atelier::Error);
    CHECK_THROWS_AS(atelier::parse_parameters("p\nSteps: 2, Sampler: Euler, CFG scale: 7, Seed: -1"), atelier::Error);
}

TEST_CASE("a travel prompt survives the A1111 parameters text of its frames") {
    GenerationParams params;  // a prompt-travel clip (atelier/prompt_travel.h): keyframe lines in the prompt
    params.prompt = "a red star\n0: on the right\n15: on the left\noutlined";
    params.negative_prompt = "blurry";
    params.steps = 10;
    params.guidance = 2;
    params.seed = 7;
    params.width = params.height = 64;
    params.frames = 16;
    params.frame_index = 3;
    params.fps = 8;
    const GenerationParams back = atelier::parse_parameters(atelier::format_parameters(params));
    CHECK(back.prompt == params.prompt);
    CHECK(back.negative_prompt == "blurry");
    CHECK(back.frames == 16);
    CHECK(back.frame_index == 3);
}
