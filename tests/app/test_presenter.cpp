// needs: gl
// labels: slow
// Presenter mode: the A/B wipe divider moves the boundary between A and B pixels, the HUD toggles,
// typing then pausing regenerates exactly once, and typing during a run cancels it for the new prompt; a
// recorded session is written as a clip that decodes back to the pictures shown.
#include <QtTest>
#include <QLineEdit>
#include <QTemporaryDir>

#include "JobRunner.h"
#include "PresenterWindow.h"
#include "PreviewView.h"
#include "StudioSetup.h"
#include "atelier/video.h"

namespace {
const QString kModel = QStringLiteral(ATELIER_FIXTURES_DIR "/tiny-sd-a");

QImage solid(const QColor& color) {
    QImage image(32, 32, QImage::Format_RGB888);
    image.fill(color);
    return image;
}
bool isRed(const QColor& c) { return c.red() > 180 && c.blue() < 80; }
bool isBlue(const QColor& c) { return c.blue() > 180 && c.red() < 80; }
}  // namespace

class TestPresenter : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void wipeDividerMovesTheBoundary() {
        JobRunner runner;
        PresenterWindow presenter(&runner);
        presenter.resize(900, 700);
        presenter.show();
        QVERIFY(QTest::qWaitForWindowExposed(&presenter));
        PreviewView* view = presenter.view();
        view->setCrossfadeMs(0);
        view->setHudVisible(false);
        view->setImage(solid(QColor(230, 30, 30)));        // A: red
        view->setCompareImage(solid(QColor(30, 30, 230)));  // B: blue
        view->setLayoutMode(PreviewView::Layout::Wipe);
        const QRectF r = view->imageRect();
        const int y = int(r.center().y());
        auto pixelAt = [&](double fraction) {
            const QImage frame = view->grabFramebuffer();
            return frame.pixelColor(int(r.left() + fraction * r.width()), y);
        };
        view->setWipePosition(0.3);
        QVERIFY(isRed(pixelAt(0.2)));
        QVERIFY(isBlue(pixelAt(0.4)));
        // Dragging the divider with the mouse moves it.
        QTest::mousePress(view, Qt::LeftButton, {}, QPoint(int(r.left() + 0.7 * r.width()), y));
        QTest::mouseRelease(view, Qt::LeftButton, {}, QPoint(int(r.left() + 0.7 * r.width()), y));
        QVERIFY(qAbs(view->wipePosition() - 0.7) < 0.01);
        QVERIFY(isRed(pixelAt(0.4)));
        QVERIFY(isRed(pixelAt(0.65)));
        QVERIFY(isBlue(pixelAt(0.8)));
    }

    void hudToggles() {
        JobRunner runner;
        PresenterWindow presenter(&runner);
        presenter.resize(800, 600);
        presenter.show();
        QVERIFY(QTest::qWaitForWindowExposed(&presenter));
        presenter.view()->setFocus();
        QVERIFY(presenter.view()->isHudVisible());
        QTest::keyClick(presenter.view(), Qt::Key_H);
        QVERIFY(!presenter.view()->isHudVisible());
        QTest::keyClick(presenter.view(), Qt::Key_H);
        QVERIFY(presenter.view()->isHudVisible());
        QVERIFY(presenter.view()->crispUpscale());  // F: crisp pixels <-> smooth
        QTest::keyClick(presenter.view(), Qt::Key_F);
        QVERIFY(!presenter.view()->crispUpscale());
        QVERIFY(presenter.view()->hud().extraLines.join(QLatin1Char('\n')).contains(QLatin1String("smooth")));
    }

    void guidanceStartsAtTheModelsDefault() {
        JobRunner runner;
        PresenterWindow before(&runner);  // open before the model loads
        QSignalSpy loaded(&runner, &JobRunner::modelLoaded);
        runner.loadModel(QStringLiteral(ATELIER_SOURCE_DIR "/resources/models/atelier-tiny"));  // atelier.json: 2 (the HUD starts at 7.5)
        QVERIFY(loaded.wait(60000));
        QCOMPARE(before.view()->hudSettings().guidance, 2.0f);
        PresenterWindow after(&runner);
        QCOMPARE(after.view()->hudSettings().guidance, 2.0f);
        QCOMPARE(after.view()->hudSettings().steps, 8);
    }

    void typingRegeneratesOnceAndNewestPromptWins() {
        JobRunner runner;
        QSignalSpy loaded(&runner, &JobRunner::modelLoaded);
        runner.loadModel(kModel);
        QVERIFY(loaded.wait(60000));
        PresenterWindow presenter(&runner);
        presenter.setDebounceMs(200);
        presenter.resize(800, 600);
        presenter.show();
        QVERIFY(QTest::qWaitForWindowExposed(&presenter));
        QSignalSpy started(&presenter, &PresenterWindow::regenerationStarted);
        QSignalSpy finished(&presenter, &PresenterWindow::finalImageShown);
        QTest::keyClicks(presenter.promptBar(), QStringLiteral("a red star"), Qt::NoModifier, 20);
        QVERIFY(finished.wait(30000));
        QCOMPARE(started.count(), 1);  // many keystrokes, one regeneration
        QVERIFY(presenter.lastTiming().firstPreviewMs >= 0);
        QVERIFY(presenter.lastTiming().finalImageMs >= presenter.lastTiming().firstPreviewMs);

        // A long run, interrupted by typing: it is cancelled and the new prompt runs.
        PreviewView::HudSettings slow = presenter.view()->hudSettings();
        slow.steps = 50;
        presenter.view()->setHudSettings(slow);
        QSignalSpy cancelled(&runner, &JobRunner::generationCancelled);
        QSignalSpy progress(&runner, &JobRunner::progress);
        presenter.promptBar()->clear();
        QTest::keyClicks(presenter.promptBar(), QStringLiteral("a blue ring"));
        QTRY_VERIFY_WITH_TIMEOUT(progress.count() >= 2, 30000);
        QCOMPARE(started.count(), 2);
        QTest::keyClicks(presenter.promptBar(), QStringLiteral(" on dots"));
        QVERIFY(cancelled.wait(30000));
        QTRY_COMPARE_WITH_TIMEOUT(started.count(), 3, 5000);
        QCOMPARE(started.last().at(0).toString(), QStringLiteral("a blue ring on dots"));
        QVERIFY(finished.wait(60000));
    }

    void strengthSlidersFollowThePromptsConceptsAndLoras() {
        atelier::GenerateRequest request;
        request.concepts = {{"/x/heart.safetensors", 1.0f, "<hrt>", {}, {}}, {"/x/style.safetensors", 0.9f, "", {}, {}}};
        request.loras = {{"/y/ink.safetensors", 0.8f}};
        const QVector<QPair<QString, float>> sliders = {{QStringLiteral("<hrt>"), 0.3f}, {QStringLiteral("lora:ink"), 1.5f},
                                                        {QStringLiteral("gone"), 0.5f}};
        const auto now = PresenterWindow::applyStrengths(request, sliders);
        const QVector<QPair<QString, float>> expected = {
            {QStringLiteral("<hrt>"), 0.3f}, {QStringLiteral("style"), 0.9f}, {QStringLiteral("lora:ink"), 1.5f}};
        QCOMPARE(now, expected);  // the prompt's order; a concept no longer used drops out
        QCOMPARE(request.concepts[0].strength, 0.3f);
        QCOMPARE(request.concepts[1].strength, 0.9f);
        QCOMPARE(request.loras[0].strength, 1.5f);
    }

    void recordingWritesTheShownPictures() {
        JobRunner runner;
        QSignalSpy loaded(&runner, &JobRunner::modelLoaded);
        runner.loadModel(kModel);
        QVERIFY(loaded.wait(60000));
        PresenterWindow presenter(&runner);
        presenter.setDebounceMs(50);
        presenter.resize(800, 600);
        presenter.show();
        QVERIFY(QTest::qWaitForWindowExposed(&presenter));
        QTemporaryDir dir;
        QCOMPARE(presenter.stopRecording(dir.filePath(QStringLiteral("empty.mp4"))), QString());  // nothing shown

        int scored = 0;
        presenter.setTasteScorer([&](const QImage& a, const QImage& b) {
            ++scored;
            return QStringLiteral("%1x%2 %3").arg(a.width()).arg(a.height()).arg(b.isNull() ? "alone" : "vs B");
        });
        presenter.view()->setFocus();
        QTest::keyClick(presenter.view(), Qt::Key_R);
        QVERIFY(presenter.isRecording());
        QSignalSpy finished(&presenter, &PresenterWindow::finalImageShown);
        QTest::keyClicks(presenter.promptBar(), QStringLiteral("a red star"));
        QVERIFY(finished.wait(30000));
        presenter.promptBar()->clear();
        QTest::keyClicks(presenter.promptBar(), QStringLiteral("a blue ring"));
        QVERIFY(finished.wait(30000));
        QVERIFY(scored >= 2);  // the HUD's taste line follows each final picture (single layout: no B)
        QCOMPARE(presenter.view()->hud().tasteScore,
                 QStringLiteral("%1x%2 alone").arg(presenter.view()->image().width()).arg(presenter.view()->image().height()));
        const int frames = presenter.recordedFrames();
        QVERIFY(frames >= 2);  // two finals at least, and the step previews before them
        const QImage last = presenter.view()->image().convertToFormat(QImage::Format_RGB888);

        const QString path = presenter.stopRecording(dir.filePath(QStringLiteral("session.mp4")));
        QCOMPARE(path, dir.filePath(QStringLiteral("session.mp4")));
        QVERIFY(!presenter.isRecording());
        const atelier::DecodedClip clip = atelier::read_clip(path.toStdString());
        QCOMPARE(int(clip.frames.size()), frames);
        QCOMPARE(clip.fps, 8.0);
        // The clip's last frame is the final picture on screen, scaled up by a whole factor.
        auto errorTo = [&](const atelier::Image& back) {
            const int factor = back.width / last.width();
            double error = 0;
            for (int y = 0; y < last.height(); ++y)
                for (int x = 0; x < last.width(); ++x) {
                    const QColor want = last.pixelColor(x, y);
                    const uint8_t* got = &back.pixels[size_t(((y * factor + factor / 2) * back.width + x * factor + factor / 2) * 3)];
                    error += std::abs(want.red() - got[0]) + std::abs(want.green() - got[1]) + std::abs(want.blue() - got[2]);
                }
            return error / (3.0 * last.width() * last.height());
        };
        // The fixture model's pictures are pixel noise, H.264's hardest case (measured 20 / 255 for the final,
        // 117 for the step previews before it).
        const double error = errorTo(clip.frames.back());
        QVERIFY2(error < 30.0, qPrintable(QStringLiteral("mean error %1").arg(error)));
        QVERIFY(errorTo(clip.frames.front()) > 2 * error);
    }
};

int main(int argc, char** argv) {
    configureDefaultSurfaceFormat();
    QStandardPaths::setTestModeEnabled(true);
    QApplication app(argc, argv);
    TestPresenter test;
    return QTest::qExec(&test, argc, argv);
}

#include "test_presenter.moc"
