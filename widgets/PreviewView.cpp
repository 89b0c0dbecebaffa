#include "PreviewView.h"

#include <QKeyEvent>
#include <QMouseEvent>
#include <QOpenGLShaderProgram>
#include <QOpenGLTexture>
#include <QOpenGLVertexArrayObject>
#include <QPainter>
#include <QTimer>
#include <algorithm>

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
    compareTexture_.reset();
    gridTextures_.clear();
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

void PreviewView::setCompareImage(const QImage& image) {
    compare_ = image.convertToFormat(QImage::Format_RGBA8888);
    pendingUpload_ = true;
    update();
}

void PreviewView::setGridImages(const QVector<QImage>& images) {
    grid_.clear();
    for (const QImage& image : images) grid_.push_back(image.convertToFormat(QImage::Format_RGBA8888));
    pendingUpload_ = true;
    update();
}

void PreviewView::setLayoutMode(Layout layout) {
    layout_ = layout;
    update();
}

void PreviewView::setWipePosition(double position) {
    wipe_ = std::clamp(position, 0.0, 1.0);
    Q_EMIT wipeMoved(wipe_);
    update();
}

void PreviewView::setHudSettings(const HudSettings& settings) {
    settings_ = settings;
    update();
}

QRectF PreviewView::fitRect(const QSize& image, const QRectF& area) const {
    if (image.isEmpty() || area.isEmpty()) return {};
    const double scale = std::min(area.width() / image.width(), area.height() / image.height());
    const double w = image.width() * scale, h = image.height() * scale;
    return QRectF(area.x() + (area.width() - w) / 2.0, area.y() + (area.height() - h) / 2.0, w, h);
}

QRectF PreviewView::imageRect() const {
    if (current_.isNull() || width() <= 0 || height() <= 0) return {};
    if (layout_ == Layout::SideBySide) return fitRect(current_.size(), QRectF(0, 0, width() / 2.0, height()));
    return fitRect(current_.size(), QRectF(0, 0, width(), height()));
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
    compareTexture_ = compare_.isNull() ? nullptr : makeTexture(compare_);
    gridTextures_.clear();
    for (const QImage& image : grid_) gridTextures_.push_back(makeTexture(image));
}

void PreviewView::drawQuad(QOpenGLTexture* image, QOpenGLTexture* previous, float mix, const QRectF& r, float clipU) {
    if (!image || r.isEmpty()) return;
    const float x0 = float(r.left() / width() * 2 - 1), x1 = float(r.right() / width() * 2 - 1);
    const float y0 = float(1 - r.bottom() / height() * 2), y1 = float(1 - r.top() / height() * 2);
    program_->setUniformValue("u_rect", x0, y0, x1, y1);
    program_->setUniformValue("u_mix", mix);
    program_->setUniformValue("u_clip_u", clipU);
    image->bind(0);
    (previous ? previous : image)->bind(1);
    glDrawArrays(GL_TRIANGLE_STRIP, 0, 4);
}

void PreviewView::paintGL() {
    uploadPending();
    const qreal dpr = devicePixelRatioF();
    glViewport(0, 0, int(width() * dpr), int(height() * dpr));
    glClearColor(0.08f, 0.08f, 0.09f, 1.0f);
    glClear(GL_COLOR_BUFFER_BIT);

    const QRectF r = imageRect();
    if (program_ && texture_ && !r.isEmpty()) {
        const float mix = crossfadeMs_ <= 0 ? 1.0f : std::min(1.0f, float(sinceImage_.elapsed()) / crossfadeMs_);
        program_->bind();
        program_->setUniformValue("u_image", 0);
        program_->setUniformValue("u_previous", 1);
        vao_->bind();
        switch (layout_) {
            case Layout::Single:
                drawQuad(texture_.get(), previousTexture_.get(), mix, r, -1.0f);
                break;
            case Layout::Wipe:
                drawQuad(texture_.get(), previousTexture_.get(), mix, r, -1.0f);
                drawQuad(compareTexture_.get(), nullptr, 1.0f, r, float(wipe_));
                break;
            case Layout::SideBySide:
                drawQuad(texture_.get(), previousTexture_.get(), mix, r, -1.0f);
                if (compareTexture_)
                    drawQuad(compareTexture_.get(), nullptr, 1.0f,
                             fitRect(compare_.size(), QRectF(width() / 2.0, 0, width() / 2.0, height())), -1.0f);
                break;
            case Layout::Grid:
                for (size_t i = 0; i < gridTextures_.size() && i < 4; ++i) {
                    const QRectF cell((i % 2) * width() / 2.0, (i / 2) * height() / 2.0, width() / 2.0, height() / 2.0);
                    drawQuad(gridTextures_[i].get(), nullptr, 1.0f, fitRect(grid_[int(i)].size(), cell.adjusted(2, 2, -2, -2)), -1.0f);
                }
                break;
        }
        vao_->release();
        program_->release();
        if (mix < 1.0f) QTimer::singleShot(16, this, qOverload<>(&QWidget::update));
    }
    ++frames_;
    if (hudVisible_ || layout_ == Layout::Wipe) drawHud();
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
    if (layout_ == Layout::Wipe && !current_.isNull()) {
        // The divider of the A/B wipe, with its labels.
        const QRectF r = imageRect();
        const float x = float(r.left() + wipe_ * r.width());
        ImDrawList* draw = ImGui::GetForegroundDrawList();
        draw->AddLine(ImVec2(x, float(r.top())), ImVec2(x, float(r.bottom())), IM_COL32(255, 255, 255, 230), 3.0f);
        draw->AddCircleFilled(ImVec2(x, float(r.center().y())), 9.0f, IM_COL32(255, 255, 255, 230));
        draw->AddText(ImVec2(float(r.left()) + 10, float(r.bottom()) - 24), IM_COL32(255, 255, 255, 255), "A");
        draw->AddText(ImVec2(float(r.right()) - 20, float(r.bottom()) - 24), IM_COL32(255, 255, 255, 255), "B");
    }
    if (!hudVisible_) {
        ImGui::Render();
        ImGui_ImplOpenGL3_RenderDrawData(ImGui::GetDrawData());
        return;
    }
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
        if (hud_.imagesPerSecond > 0) ImGui::Text("%.2f images / s", hud_.imagesPerSecond);
        ImGui::Text("image   %d x %d", current_.width(), current_.height());
        if (!hud_.tasteScore.isEmpty()) ImGui::Text("taste   %s", hud_.tasteScore.toUtf8().constData());
        if (!hud_.effectivePrompt.isEmpty()) {
            ImGui::PushTextWrapPos(360.0f);
            ImGui::TextDisabled("prompt  %s", hud_.effectivePrompt.toUtf8().constData());
            ImGui::PopTextWrapPos();
        }
        for (const QString& line : hud_.extraLines) ImGui::TextUnformatted(line.toUtf8().constData());
        if (hud_.interactive) {
            ImGui::Separator();
            HudSettings edited = settings_;
            ImGui::SetNextItemWidth(200);
            ImGui::SliderInt("steps", &edited.steps, 1, 50);
            ImGui::SetNextItemWidth(200);
            ImGui::SliderFloat("guidance", &edited.guidance, 0.0f, 15.0f, "%.1f");
            ImGui::Text("seed    %llu", static_cast<unsigned long long>(edited.seed));
            ImGui::SameLine();
            ImGui::Checkbox("lock", &edited.seedLocked);
            ImGui::SameLine();
            if (ImGui::SmallButton("new")) edited.seed = edited.seed * 6364136223846793005ULL + 1442695040888963407ULL;
            for (auto& [name, strength] : edited.strengths) {
                ImGui::SetNextItemWidth(200);
                ImGui::SliderFloat(name.toUtf8().constData(), &strength, 0.0f, 2.0f, "%.2f");
            }
            if (edited != settings_) {
                settings_ = edited;
                QMetaObject::invokeMethod(this, [this] { Q_EMIT hudSettingsChanged(settings_); }, Qt::QueuedConnection);
            }
        }
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
    if (draggingWipe_) {
        const QRectF r = imageRect();
        setWipePosition((mousePos_.x() - r.left()) / std::max(1.0, r.width()));
    }
    if (hudVisible_) update();
}

void PreviewView::mousePressEvent(QMouseEvent* event) {
    mousePos_ = event->position();
    const bool overHud = imgui_ && hudVisible_ && (ImGui::SetCurrentContext(imgui_), ImGui::GetIO().WantCaptureMouse);
    if (layout_ == Layout::Wipe && event->button() == Qt::LeftButton && !overHud && imageRect().contains(mousePos_)) {
        draggingWipe_ = true;
        const QRectF r = imageRect();
        setWipePosition((mousePos_.x() - r.left()) / std::max(1.0, r.width()));
        return;
    }
    if (event->button() == Qt::LeftButton) mouseDown_[0] = true;
    if (event->button() == Qt::RightButton) mouseDown_[1] = true;
    if (event->button() == Qt::MiddleButton) mouseDown_[2] = true;
    update();
}

void PreviewView::mouseReleaseEvent(QMouseEvent* event) {
    draggingWipe_ = false;
    if (event->button() == Qt::LeftButton) mouseDown_[0] = false;
    if (event->button() == Qt::RightButton) mouseDown_[1] = false;
    if (event->button() == Qt::MiddleButton) mouseDown_[2] = false;
    update();
}

#include "moc_PreviewView.cpp"
