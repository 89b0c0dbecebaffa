#version 330 core
// A quad covering the letterboxed image rectangle, generated from gl_VertexID (no vertex buffer).
uniform vec4 u_rect;  // x0, y0, x1, y1 in normalized device coordinates
out vec2 v_uv;
void main() {
    vec2 corner = vec2(float(gl_VertexID & 1), float((gl_VertexID >> 1) & 1));
    v_uv = vec2(corner.x, 1.0 - corner.y);
    gl_Position = vec4(mix(u_rect.xy, u_rect.zw, corner), 0.0, 1.0);
}
