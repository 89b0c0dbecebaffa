#version 330 core
// Shows the current image; `u_previous` crossfades out as `u_mix` goes from 0 to 1
// (step previews blend into each other instead of jumping).
uniform sampler2D u_image;
uniform sampler2D u_previous;
uniform float u_mix;
in vec2 v_uv;
out vec4 frag_color;
void main() {
    vec4 current = texture(u_image, v_uv);
    vec4 previous = texture(u_previous, v_uv);
    frag_color = vec4(mix(previous.rgb, current.rgb, u_mix), 1.0);
}
