// needs: gl
// The live view draws its image through the GLSL shader and the Dear ImGui HUD on top.
#include <QtTest>

#include "PreviewView.h"
#include "StudioSetup.h"

class TestPreviewView : public QObject {
    Q_OBJECT
private:
    static QColor at(const QImage& frame, double fx, double fy) {
        return frame.pixelColor(int(fx * (frame.width() - 1)), int(fy * (frame.height() - 1)));
    }
    static bool near(const QColor& a, const QColor& b, int tolerance = 6) {
        return std::abs(a.red() - b.red()) <= tolerance && std::abs(a.green() - b.green()) <= tolerance &&
               std::abs(a.blue() - b.blue()) <= tolerance;
    }

private Q_SLOTS:
    void drawsTestPatternThroughShader() {
        PreviewView view;
        view.setCrossfadeMs(0);
        view.setHudVisible(false);
        view.resize(400, 400);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        const QImage frame = view.grabFramebuffer();
        QCOMPARE(frame.size(), QSize(400, 400));
        QVERIFY2(near(at(frame, 0.25, 0.25), QColor(220, 40, 40)), "top-left quadrant must be red");
        QVERIFY2(near(at(frame, 0.75, 0.25), QColor(40, 200, 60)), "top-right quadrant must be green");
        QVERIFY2(near(at(frame, 0.25, 0.75), QColor(40, 70, 220)), "bottom-left quadrant must be blue");
        QVERIFY2(near(at(frame, 0.75, 0.75), QColor(240, 240, 240)), "bottom-right quadrant must be white");
    }

    void letterboxesNonSquareWidgets() {
        PreviewView view;
        view.setCrossfadeMs(0);
        view.setHudVisible(false);
        view.resize(600, 300);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        QCOMPARE(view.imageRect(), QRectF(150, 0, 300, 300));
        const QImage frame = view.grabFramebuffer();
        const QColor background = frame.pixelColor(40, 150);
        QVERIFY2(background.red() < 40 && background.green() < 40, "outside the image is the dark background");
        QVERIFY(near(frame.pixelColor(200, 60), QColor(220, 40, 40)));
    }

    void hudPanelIsDrawnAndToggles() {
        PreviewView view;
        view.setCrossfadeMs(0);
        view.resize(400, 400);
        PreviewView::Hud hud;
        hud.device = QStringLiteral("CPU");
        hud.model = QStringLiteral("tiny");
        hud.step = 2;
        hud.totalSteps = 4;
        view.setHud(hud);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        QVERIFY(view.isHudVisible());
        const QImage withHud = view.grabFramebuffer();
        // The panel sits at the top-left, over the red quadrant: there it is dark, not red.
        const QColor panel = withHud.pixelColor(20, 20);
        QVERIFY2(panel.red() < 120, qPrintable(QStringLiteral("HUD panel missing: %1").arg(panel.name())));
        QVERIFY(near(withHud.pixelColor(180, 180), QColor(220, 40, 40)));  // the rest of the quadrant is untouched

        QSignalSpy spy(&view, &PreviewView::hudVisibilityChanged);
        QTest::keyClick(&view, Qt::Key_H);
        QCOMPARE(spy.count(), 1);
        QVERIFY(!view.isHudVisible());
        const QImage withoutHud = view.grabFramebuffer();
        QVERIFY(near(withoutHud.pixelColor(20, 20), QColor(220, 40, 40)));
    }

    void showsANewImage() {
        PreviewView view;
        view.setCrossfadeMs(0);
        view.setHudVisible(false);
        view.resize(200, 200);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        QImage yellow(8, 8, QImage::Format_RGB888);
        yellow.fill(QColor(250, 210, 20));
        view.setImage(yellow);
        const QImage frame = view.grabFramebuffer();
        QVERIFY(near(frame.pixelColor(100, 100), QColor(250, 210, 20)));
    }
};

int main(int argc, char** argv) {
    configureDefaultSurfaceFormat();
    QApplication app(argc, argv);
    TestPreviewView test;
    return QTest::qExec(&test, argc, argv);
}

#include "test_previewview.moc"
