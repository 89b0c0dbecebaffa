// PreviewView: the live view. Draws the current image through a GLSL shader (letterboxed,
// crossfading from the previous image) and a Dear ImGui HUD inside the same OpenGL widget.
#pragma once
#include <QElapsedTimer>
#include <QImage>
#include <QList>
#include <QPair>
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
        double imagesPerSecond = 0;
        QString effectivePrompt;
        QString tasteScore;       // e.g. "0.73 ± 0.08"
        QStringList extraLines;
        bool interactive = false;  // show the sliders below (presenter mode)
    };
    // Settings the HUD's sliders edit (presenter mode); emitted on change.
    struct HudSettings {
        int steps = 8;
        float guidance = 7.5f;
        quint64 seed = 1;
        bool seedLocked = true;
        // The concepts and LoRAs the prompt uses, each with its strength slider (name, strength 0..2).
        QVector<QPair<QString, float>> strengths;
        bool operator==(const HudSettings& o) const {
            return steps == o.steps && guidance == o.guidance && seed == o.seed && seedLocked == o.seedLocked &&
                   strengths == o.strengths;
        }
        bool operator!=(const HudSettings& o) const { return !(*this == o); }
    };
    // How the images are arranged: one image, A|B wipe with a draggable divider, A and B side by
    // side, or a 2x2 grid (four seeds).
    enum class Layout { Single = 1, Wipe, SideBySide, Grid };

    explicit PreviewView(QWidget* parent = nullptr);
    ~PreviewView() override;

    // The picture shown; the previous one crossfades out over `crossfadeMs`.
    void setImage(const QImage& image);
    // The second picture of the wipe / side-by-side layouts (B), and the four of the grid.
    void setCompareImage(const QImage& image);
    void setGridImages(const QVector<QImage>& images);
    void setLayoutMode(Layout layout);
    Layout layoutMode() const { return layout_; }
    // Divider of the wipe, 0..1 across the image (0.5: the middle).
    void setWipePosition(double position);
    double wipePosition() const { return wipe_; }
    void setHudSettings(const HudSettings& settings);
    const HudSettings& hudSettings() const { return settings_; }
    // Frames drawn since creation (the presenter benchmark counts them).
    qint64 framesDrawn() const { return frames_; }
    QImage image() const { return current_; }
    void setHud(const Hud& hud);
    const Hud& hud() const { return hud_; }
    void setHudVisible(bool visible);
    bool isHudVisible() const { return hudVisible_; }
    // Nearest-neighbour upscaling keeps tiny images crisp; linear is smoother.
    void setCrispUpscale(bool crisp);
    bool crispUpscale() const { return crisp_; }
    void setCrossfadeMs(int ms) { crossfadeMs_ = ms; }

    // A four-colour test pattern (red, green, blue, white quadrants) for the first start and the tests.
    static QImage testPattern(int size = 256);
    // The rectangle, in widget pixels, where the image is drawn (letterboxed).
    QRectF imageRect() const;

Q_SIGNALS:
    void hudVisibilityChanged(bool visible);
    void hudSettingsChanged(const PreviewView::HudSettings& settings);
    void wipeMoved(double position);

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
    void drawQuad(QOpenGLTexture* image, QOpenGLTexture* previous, float mix, const QRectF& rect, float clipU);
    QRectF fitRect(const QSize& image, const QRectF& area) const;
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
    std::unique_ptr<QOpenGLTexture> compareTexture_;
    std::vector<std::unique_ptr<QOpenGLTexture>> gridTextures_;
    QImage compare_;
    QVector<QImage> grid_;
    Layout layout_ = Layout::Single;
    double wipe_ = 0.5;
    bool draggingWipe_ = false;
    HudSettings settings_;
    qint64 frames_ = 0;
    std::unique_ptr<QOpenGLVertexArrayObject> vao_;
    ImGuiContext* imgui_ = nullptr;
    QPointF mousePos_;
    bool mouseDown_[3] = {false, false, false};
};
