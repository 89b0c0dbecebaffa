// links: app
// Presenter benchmark (run under xvfb-run): time from the end of typing to the first preview on screen
// and to the final image, the live view's frames per second, and the engine's steps per second.
//   xvfb-run -a -s "-screen 0 1600x1000x24" build/release/tests/bench/bench_presenter [MODEL] [RUNS]
#include <QApplication>
#include <QElapsedTimer>
#include <QLineEdit>
#include <QSignalSpy>
#include <QTest>
#include <algorithm>
#include <cstdio>
#include <vector>

#include "JobRunner.h"
#include "PresenterWindow.h"
#include "PreviewView.h"
#include "StudioSetup.h"
#include "atelier/system.h"

namespace {
double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}
}  // namespace

int main(int argc, char** argv) {
    configureDefaultSurfaceFormat();
    QApplication app(argc, argv);
    const QStringList args = app.arguments();
    QString model = args.size() > 1 ? args[1] : QString::fromStdString(atelier::default_model_dir());
    if (model.isEmpty()) model = QStringLiteral(ATELIER_FIXTURES_DIR "/tiny-sd-a");
    const int runs = args.size() > 2 ? args[2].toInt() : 5;
    atelier::set_compute_threads(0);

    JobRunner runner;
    QSignalSpy loaded(&runner, &JobRunner::modelLoaded);
    runner.loadModel(model);
    if (!loaded.wait(120000)) {
        std::fprintf(stderr, "could not load %s\n", qPrintable(model));
        return 1;
    }
    PresenterWindow presenter(&runner);
    presenter.resize(1280, 800);
    presenter.show();
    if (!QTest::qWaitForWindowExposed(&presenter)) return 1;
    const int debounce = presenter.debounceMs();

    const QStringList prompts = {QStringLiteral("a red star"), QStringLiteral("two blue circles on dots"),
                                 QStringLiteral("a large green triangle at the top"),
                                 QStringLiteral("three small yellow crosses, outlined"),
                                 QStringLiteral("a purple ring on a striped white background")};
    std::vector<double> firstPreview, finalImage, stepsPerSecond;
    QSignalSpy shown(&presenter, &PresenterWindow::finalImageShown);
    for (int i = 0; i < runs; ++i) {
        presenter.promptBar()->clear();
        QTest::keyClicks(presenter.promptBar(), prompts[i % prompts.size()], Qt::NoModifier, 15);
        if (!shown.wait(120000)) break;
        const auto& t = presenter.lastTiming();
        firstPreview.push_back(t.firstPreviewMs - debounce);
        finalImage.push_back(t.finalImageMs - debounce);
        stepsPerSecond.push_back(t.stepsPerSecond);
    }

    // Frames per second of the view: redraw as fast as the display allows for two seconds
    // (what a crossfade or a step animation asks of it), and while idle with the HUD on.
    PreviewView* view = presenter.view();
    const qint64 before = view->framesDrawn();
    QElapsedTimer clock;
    clock.start();
    while (clock.elapsed() < 2000) {
        view->update();
        QTest::qWait(1);
    }
    const double fps = (view->framesDrawn() - before) * 1000.0 / clock.elapsed();

    std::printf("\nPresenter benchmark (%s, %d threads, %d runs, debounce %d ms not included)\n",
                qPrintable(model), atelier::compute_threads(), int(finalImage.size()), debounce);
    std::printf("| figure | median | target |\n|---|---|---|\n");
    std::printf("| end of typing -> first preview on screen | %.0f ms | <= 500 ms |\n", median(firstPreview));
    std::printf("| end of typing -> final image | %.0f ms | <= 1500 ms |\n", median(finalImage));
    std::printf("| engine steps per second (%d steps) | %.1f | |\n", view->hudSettings().steps, median(stepsPerSecond));
    std::printf("| live view frames per second (Xvfb, llvmpipe) | %.0f | >= 60 |\n", fps);
    return 0;
}
