#version 330 core
// Shows one image; `u_previous` crossfades out as `u_mix` goes from 0 to 1 (step previews blend
// into each other instead of jumping). Fragments left of `u_clip_u` (texture x) are not drawn:
// the A/B wipe draws B over A from the divider on.
uniform sampler2D u_image;
uniform sampler2D u_previous;
uniform float u_mix;
uniform float u_clip_u;
in vec2 v_uv;
out vec4 frag_color;
void main() {
    if (v_uv.x < u_clip_u) discard;
    vec4 current = texture(u_image, v_uv);
    vec4 previous = texture(u_previous, v_uv);
    frag_color = vec4(mix(previous.rgb, current.rgb, u_mix), 1.0);
}
