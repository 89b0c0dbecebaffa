// PreviewView: the live view. Draws the current image through a GLSL shader (letterboxed,
// crossfading from the previous image) and a Dear ImGui HUD inside the same OpenGL widget.
#pragma once
#include <QElapsedTimer>
#include <QImage>
#include <QOpenGLExtraFunctions>
#include <QOpenGLWidget>
#include <QStringList>
#include <memory>

class QOpenGLShaderProgram;
class QOpenGLTexture;
class QOpenGLVertexArrayObject;
struct ImGuiContext;

class PreviewView : public QOpenGLWidget, protected QOpenGLExtraFunctions {
    Q_OBJECT
public:
    // What the HUD shows; empty fields are left out.
    struct Hud {
        QString title = QStringLiteral("Atelier live view");
        QString device;
        QString model;
        int step = 0;
        int totalSteps = 0;
        double msPerStep = 0;
        QStringList extraLines;
    };

    explicit PreviewView(QWidget* parent = nullptr);
    ~PreviewView() override;

    // The picture shown; the previous one crossfades out over `crossfadeMs`.
    void setImage(const QImage& image);
    QImage image() const { return current_; }
    void setHud(const Hud& hud);
    const Hud& hud() const { return hud_; }
    void setHudVisible(bool visible);
    bool isHudVisible() const { return hudVisible_; }
    // Nearest-neighbour upscaling keeps tiny images crisp; linear is smoother.
    void setCrispUpscale(bool crisp);
    void setCrossfadeMs(int ms) { crossfadeMs_ = ms; }

    // A four-colour test pattern (red, green, blue, white quadrants) for the first start and the tests.
    static QImage testPattern(int size = 256);
    // The rectangle, in widget pixels, where the image is drawn (letterboxed).
    QRectF imageRect() const;

Q_SIGNALS:
    void hudVisibilityChanged(bool visible);

protected:
    void initializeGL() override;
    void resizeGL(int w, int h) override;
    void paintGL() override;
    void keyPressEvent(QKeyEvent* event) override;
    void mouseMoveEvent(QMouseEvent* event) override;
    void mousePressEvent(QMouseEvent* event) override;
    void mouseReleaseEvent(QMouseEvent* event) override;

private:
    void uploadPending();
    void drawHud();
    void releaseGl();

    QImage current_;
    QImage previous_;
    bool pendingUpload_ = false;
    Hud hud_;
    bool hudVisible_ = true;
    bool crisp_ = true;
    int crossfadeMs_ = 180;
    QElapsedTimer sinceImage_;
    QElapsedTimer sinceFrame_;

    std::unique_ptr<QOpenGLShaderProgram> program_;
    std::unique_ptr<QOpenGLTexture> texture_;
    std::unique_ptr<QOpenGLTexture> previousTexture_;
    std::unique_ptr<QOpenGLVertexArrayObject> vao_;
    ImGuiContext* imgui_ = nullptr;
    QPointF mousePos_;
    bool mouseDown_[3] = {false, false, false};
};
