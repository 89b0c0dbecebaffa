#include "PreviewView.h"

#include <QKeyEvent>
#include <QMouseEvent>
#include <QOpenGLShaderProgram>
#include <QOpenGLTexture>
#include <QOpenGLVertexArrayObject>
#include <QPainter>
#include <QTimer>

#include <imgui.h>
#include <backends/imgui_impl_opengl3.h>

// Qt resources compiled into a static library must be registered by name, outside any namespace.
static void registerAtelierResources() { Q_INIT_RESOURCE(atelier); }

PreviewView::PreviewView(QWidget* parent) : QOpenGLWidget(parent) {
    registerAtelierResources();
    setFocusPolicy(Qt::StrongFocus);
    setMouseTracking(true);
    setMinimumSize(160, 120);
    current_ = testPattern();
    pendingUpload_ = true;
    sinceImage_.start();
    sinceFrame_.start();
}

PreviewView::~PreviewView() {
    makeCurrent();
    releaseGl();
    doneCurrent();
}

void PreviewView::releaseGl() {
    if (imgui_) {
        ImGui::SetCurrentContext(imgui_);
        ImGui_ImplOpenGL3_Shutdown();
        ImGui::DestroyContext(imgui_);
        imgui_ = nullptr;
    }
    texture_.reset();
    previousTexture_.reset();
    program_.reset();
    vao_.reset();
}

QImage PreviewView::testPattern(int size) {
    QImage pattern(size, size, QImage::Format_RGBA8888);
    const int half = size / 2;
    QPainter painter(&pattern);
    painter.fillRect(0, 0, half, half, QColor(220, 40, 40));
    painter.fillRect(half, 0, size - half, half, QColor(40, 200, 60));
    painter.fillRect(0, half, half, size - half, QColor(40, 70, 220));
    painter.fillRect(half, half, size - half, size - half, QColor(240, 240, 240));
    return pattern;
}

void PreviewView::setImage(const QImage& image) {
    if (image.isNull()) return;
    previous_ = current_;
    current_ = image.convertToFormat(QImage::Format_RGBA8888);
    pendingUpload_ = true;
    sinceImage_.restart();
    update();
}

void PreviewView::setHud(const Hud& hud) {
    hud_ = hud;
    update();
}

void PreviewView::setHudVisible(bool visible) {
    if (hudVisible_ == visible) return;
    hudVisible_ = visible;
    Q_EMIT hudVisibilityChanged(visible);
    update();
}

void PreviewView::setCrispUpscale(bool crisp) {
    crisp_ = crisp;
    pendingUpload_ = true;
    update();
}

QRectF PreviewView::imageRect() const {
    if (current_.isNull() || width() <= 0 || height() <= 0) return {};
    const double scale = std::min(double(width()) / current_.width(), double(height()) / current_.height());
    const double w = current_.width() * scale, h = current_.height() * scale;
    return QRectF((width() - w) / 2.0, (height() - h) / 2.0, w, h);
}

void PreviewView::initializeGL() {
    initializeOpenGLFunctions();
    program_ = std::make_unique<QOpenGLShaderProgram>();
    if (!program_->addShaderFromSourceFile(QOpenGLShader::Vertex, QStringLiteral(":/shaders/display.vert")) ||
        !program_->addShaderFromSourceFile(QOpenGLShader::Fragment, QStringLiteral(":/shaders/display.frag")) ||
        !program_->link()) {
        qWarning("PreviewView: shader failed: %s", qPrintable(program_->log()));
        program_.reset();
    }
    vao_ = std::make_unique<QOpenGLVertexArrayObject>();
    vao_->create();

    imgui_ = ImGui::CreateContext();
    ImGui::SetCurrentContext(imgui_);
    ImGuiIO& io = ImGui::GetIO();
    io.IniFilename = nullptr;  // no imgui.ini next to the user's files
    ImGui::StyleColorsDark();
    ImGui::GetStyle().WindowRounding = 6.0f;
    ImGui_ImplOpenGL3_Init("#version 330 core");
    pendingUpload_ = true;
}

void PreviewView::resizeGL(int, int) {}

void PreviewView::uploadPending() {
    if (!pendingUpload_) return;
    pendingUpload_ = false;
    auto makeTexture = [this](const QImage& image) {
        auto texture = std::make_unique<QOpenGLTexture>(image.isNull() ? current_ : image, QOpenGLTexture::DontGenerateMipMaps);
        const auto filter = crisp_ ? QOpenGLTexture::Nearest : QOpenGLTexture::Linear;
        texture->setMinMagFilters(QOpenGLTexture::Linear, filter);
        texture->setWrapMode(QOpenGLTexture::ClampToEdge);
        return texture;
    };
    texture_ = makeTexture(current_);
    // A previous image of another size cannot blend pixel for pixel; show the new one at once.
    const bool blend = !previous_.isNull() && previous_.size() == current_.size();
    previousTexture_ = makeTexture(blend ? previous_ : current_);
}

void PreviewView::paintGL() {
    uploadPending();
    const qreal dpr = devicePixelRatioF();
    glViewport(0, 0, int(width() * dpr), int(height() * dpr));
    glClearColor(0.08f, 0.08f, 0.09f, 1.0f);
    glClear(GL_COLOR_BUFFER_BIT);

    const QRectF r = imageRect();
    if (program_ && texture_ && !r.isEmpty()) {
        const float x0 = float(r.left() / width() * 2 - 1), x1 = float(r.right() / width() * 2 - 1);
        const float y0 = float(1 - r.bottom() / height() * 2), y1 = float(1 - r.top() / height() * 2);
        const float mix = crossfadeMs_ <= 0 ? 1.0f : std::min(1.0f, float(sinceImage_.elapsed()) / crossfadeMs_);
        program_->bind();
        program_->setUniformValue("u_rect", x0, y0, x1, y1);
        program_->setUniformValue("u_image", 0);
        program_->setUniformValue("u_previous", 1);
        program_->setUniformValue("u_mix", mix);
        texture_->bind(0);
        previousTexture_->bind(1);
        vao_->bind();
        glDrawArrays(GL_TRIANGLE_STRIP, 0, 4);
        vao_->release();
        program_->release();
        if (mix < 1.0f) QTimer::singleShot(16, this, qOverload<>(&QWidget::update));
    }
    if (hudVisible_) drawHud();
}

void PreviewView::drawHud() {
    ImGui::SetCurrentContext(imgui_);
    ImGuiIO& io = ImGui::GetIO();
    io.DisplaySize = ImVec2(float(width()), float(height()));
    const qreal dpr = devicePixelRatioF();
    io.DisplayFramebufferScale = ImVec2(float(dpr), float(dpr));
    io.DeltaTime = std::max(1e-4f, float(sinceFrame_.restart()) / 1000.0f);
    io.MousePos = ImVec2(float(mousePos_.x()), float(mousePos_.y()));
    for (int i = 0; i < 3; ++i) io.MouseDown[i] = mouseDown_[i];

    ImGui_ImplOpenGL3_NewFrame();
    ImGui::NewFrame();
    ImGui::SetNextWindowPos(ImVec2(12, 12), ImGuiCond_Always);
    ImGui::SetNextWindowBgAlpha(0.78f);
    const ImGuiWindowFlags flags = ImGuiWindowFlags_NoDecoration | ImGuiWindowFlags_AlwaysAutoResize |
                                   ImGuiWindowFlags_NoSavedSettings | ImGuiWindowFlags_NoFocusOnAppearing |
                                   ImGuiWindowFlags_NoNav;
    if (ImGui::Begin("hud", nullptr, flags)) {
        ImGui::TextUnformatted(hud_.title.toUtf8().constData());
        ImGui::Separator();
        if (!hud_.device.isEmpty()) ImGui::Text("device  %s", hud_.device.toUtf8().constData());
        if (!hud_.model.isEmpty()) ImGui::Text("model   %s", hud_.model.toUtf8().constData());
        if (hud_.totalSteps > 0) {
            ImGui::Text("step    %d / %d", hud_.step, hud_.totalSteps);
            ImGui::ProgressBar(float(hud_.step) / float(hud_.totalSteps), ImVec2(200, 0));
        }
        if (hud_.msPerStep > 0) ImGui::Text("%.1f ms / step", hud_.msPerStep);
        ImGui::Text("image   %d x %d", current_.width(), current_.height());
        for (const QString& line : hud_.extraLines) ImGui::TextUnformatted(line.toUtf8().constData());
        ImGui::TextDisabled("H hides this panel");
    }
    ImGui::End();
    ImGui::Render();
    ImGui_ImplOpenGL3_RenderDrawData(ImGui::GetDrawData());
}

void PreviewView::keyPressEvent(QKeyEvent* event) {
    if (event->key() == Qt::Key_H && event->modifiers() == Qt::NoModifier) {
        setHudVisible(!hudVisible_);
        return;
    }
    QOpenGLWidget::keyPressEvent(event);
}

void PreviewView::mouseMoveEvent(QMouseEvent* event) {
    mousePos_ = event->position();
    if (hudVisible_) update();
}

void PreviewView::mousePressEvent(QMouseEvent* event) {
    mousePos_ = event->position();
    if (event->button() == Qt::LeftButton) mouseDown_[0] = true;
    if (event->button() == Qt::RightButton) mouseDown_[1] = true;
    if (event->button() == Qt::MiddleButton) mouseDown_[2] = true;
    update();
}

void PreviewView::mouseReleaseEvent(QMouseEvent* event) {
    if (event->button() == Qt::LeftButton) mouseDown_[0] = false;
    if (event->button() == Qt::RightButton) mouseDown_[1] = false;
    if (event->button() == Qt::MiddleButton) mouseDown_[2] = false;
    update();
}
