// atelier-screenshots: drives the real studio through each workspace with real content and saves
// what a person sees to docs/screenshots/ (run under Xvfb: packaging/screenshots.sh).
#include <QApplication>
#include <QDir>
#include <QElapsedTimer>
#include <QLineEdit>
#include <QListWidget>
#include <QPainter>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>
#include <algorithm>
#include <cstdio>

#include "ClipPlayer.h"
#include "ComparePage.h"
#include "ConceptsPage.h"
#include "GeneratePage.h"
#include "ImageConvert.h"
#include "JobRunner.h"
#include "MainWindow.h"
#include "MemoryPage.h"
#include "PresenterWindow.h"
#include "PreviewView.h"
#include "SettingsDialog.h"
#include "StudioSetup.h"
#include "TastePanel.h"
#include "atelier/image.h"
#include "atelier/taste.h"

namespace {

void settle(int ms = 300) { QTest::qWait(ms); }

void save(QWidget* widget, const QString& path) {
    settle();
    const QImage shot = widget->grab().toImage();
    if (!shot.save(path)) std::fprintf(stderr, "could not write %s\n", qPrintable(path));
    else std::printf("wrote %s (%dx%d)\n", qPrintable(path), shot.width(), shot.height());
}

// Frames 0, 2, ... 14 of a clip side by side, each 128x128 with a white gap, as the README shows them.
void saveStrip(const QVector<QImage>& frames, const QString& path) {
    const int shown = std::min<int>(8, (int(frames.size()) + 1) / 2), cell = 128, gap = 4;
    QImage strip(shown * (cell + gap), cell + gap, QImage::Format_RGB32);
    strip.fill(Qt::white);
    QPainter painter(&strip);
    painter.setRenderHint(QPainter::SmoothPixmapTransform);
    for (int k = 0; k < shown; ++k)
        painter.drawImage(QRect(k * (cell + gap) + gap / 2, gap / 2, cell, cell), frames[2 * k]);
    painter.end();
    if (!strip.save(path)) std::fprintf(stderr, "could not write %s\n", qPrintable(path));
    else std::printf("wrote %s (%dx%d)\n", qPrintable(path), strip.width(), strip.height());
}

bool generate(MainWindow& window, const QString& prompt, int batch, int steps, int seed) {
    GeneratePage* page = window.generatePage();
    page->promptEdit()->setPlainText(prompt);
    page->stepsBox()->setValue(steps);
    page->seedBox()->setValue(seed);
    page->findChild<QSpinBox*>(QStringLiteral("batch"))->setValue(batch);
    QSignalSpy done(window.jobRunner(), &JobRunner::generated);
    page->generateButton()->click();
    return done.wait(300000);
}

}  // namespace

int main(int argc, char** argv) {
    configureDefaultSurfaceFormat();
    QApplication app(argc, argv);
    QApplication::setOrganizationName(QStringLiteral("AtelierScreenshots"));
    QStandardPaths::setTestModeEnabled(true);
    const QStringList args = app.arguments();
    if (args.size() < 3) {
        std::fprintf(stderr, "usage: atelier-screenshots MODEL OUT_DIR\n");
        return 2;
    }
    const QString model = args[1], out = args[2];
    QDir().mkpath(out);
    applyTheme(QStringLiteral("dark"));

    QTemporaryDir data;
    StudioOptions options;
    options.modelPath = model;
    options.dataDir = data.path();
    options.profile = QStringLiteral("ada");
    MainWindow window(options);
    window.resize(1400, 880);
    window.show();
    QSignalSpy loaded(window.jobRunner(), &JobRunner::modelLoaded);
    if (!loaded.wait(120000)) {
        std::fprintf(stderr, "the model did not load\n");
        return 1;
    }
    atelier::Store* store = window.store();
    const int64_t me = window.profileId();

    // Memory first, so that the Generate page shows the rules it applies.
    MemoryPage* memory = window.memoryPage();
    memory->addEntry(QStringLiteral("style"), QStringLiteral("soft shadow"), 1.2);
    memory->addEntry(QStringLiteral("like"), QStringLiteral("outlined"), 0.9);

    // Generate: three batches, the red stars last so that the prompt on screen is what the live view shows;
    // one starred.
    const QStringList prompts = {QStringLiteral("three green triangles on a striped purple background, outlined"),
                                 QStringLiteral("a large blue circle at the top, on a dotted yellow background"),
                                 QStringLiteral("two small red stars on a plain white background")};
    int seed = 11;
    for (const QString& prompt : prompts) generate(window, prompt, 4, 20, seed += 7);
    const int redStars = window.generatePage()->gallery()->itemCount() - 4;   // the last batch's first
    window.generatePage()->gallery()->setFavourite(redStars + 1, true);
    window.showWorkspace(MainWindow::Generate);
    save(&window, out + QStringLiteral("/generate.png"));

    // Video: the embedded model's own motion module makes a 16-frame clip, shown in the player.
    window.generatePage()->framesBox()->setValue(16);
    generate(window, QStringLiteral("a yellow heart moving up on a striped blue background"), 1, 10, 2);
    save(&window, out + QStringLiteral("/generate-video.png"));
    saveStrip(window.generatePage()->player()->frames(), out + QStringLiteral("/clip-strip.png"));
    // Prompt travel: the still model's size words make the star grow over the clip.
    generate(window,
             QStringLiteral("0: a small green star in the centre on a plain white background\n"
                            "15: a large green star in the centre on a plain white background"),
             1, 10, 2);
    saveStrip(window.generatePage()->player()->frames(), out + QStringLiteral("/travel-strip.png"));
    window.generatePage()->player()->seek(15);
    save(&window, out + QStringLiteral("/generate-travel.png"));
    window.generatePage()->framesBox()->setValue(0);
    window.generatePage()->promptEdit()->setPlainText(prompts[2]);

    // Compare: every pair of the red-star batch, a few judged, the next one on screen.
    QVector<QImage> batch;
    for (int i = 0; i < 4; ++i) batch.push_back(window.generatePage()->gallery()->entry(redStars + i).image);
    window.comparePage()->createQueueFromImages(QStringLiteral("Red stars — batch 1"), batch, prompts[2]);
    window.showWorkspace(MainWindow::Compare);
    window.comparePage()->setStrength(2);
    window.comparePage()->choose(atelier::Choice::left);
    window.comparePage()->choose(atelier::Choice::tie);
    window.comparePage()->setStrength(3);
    window.comparePage()->choose(atelier::Choice::right);
    save(&window, out + QStringLiteral("/compare.png"));

    // Concepts: one concept with its pictures: the four red stars, then two green ones on purple stripes (the
    // first batch), as the captions below say.
    QTemporaryDir pictures;
    QStringList files;
    for (int i = 0; i < 6; ++i) {
        const QString path = pictures.filePath(QStringLiteral("star-%1.png").arg(i));
        window.generatePage()->gallery()->entry(i < 4 ? redStars + i : i - 4).image.scaled(256, 256).save(path);
        files << path;
    }
    window.showWorkspace(MainWindow::Concepts);
    window.conceptsPage()->createConcept(QStringLiteral("Ada's star"), QStringLiteral("<ada-star>"), QStringLiteral("star"),
                                         QStringLiteral("textual_inversion"));
    window.conceptsPage()->addImages(files);
    save(&window, out + QStringLiteral("/concepts.png"));
    // The same concept with a caption under every picture (the concept written as {} or as its token).
    {
        ConceptsPage* concepts = window.conceptsPage();
        const std::vector<int64_t> assets = store->concept_by_id(concepts->selectedConcept()).reference_asset_ids;
        const QStringList captions = {QStringLiteral("two red {} on the right, on a plain white background"),
                                      QStringLiteral("two red <ada-star> on white"),
                                      QStringLiteral("two red {} on a white background"),
                                      QStringLiteral("two small red {} on the right"),
                                      QStringLiteral("a green {} on a striped purple background"),
                                      QStringLiteral("a green {}, purple stripes behind it")};
        for (size_t i = 0; i < assets.size() && i < size_t(captions.size()); ++i)
            concepts->setCaption(assets[i], captions[int(i)]);
        concepts->imageList()->setCurrentRow(1);
        save(&window, out + QStringLiteral("/concepts-captions.png"));
    }

    // Memory: a learned entry with its provenance, selected.
    atelier::MemoryEntry learned;
    learned.profile_id = me;
    learned.kind = "like";
    learned.text = "warm colours";
    learned.weight = 0.8;
    learned.source = "learned";
    for (const atelier::Comparison& c : store->list_comparisons(me)) learned.source_comparison_ids.push_back(c.id);
    learned.source_count = int64_t(learned.source_comparison_ids.size());
    const int64_t learnedId = store->add_memory(learned, atelier::Actor::learner);
    memory->reload();
    window.showWorkspace(MainWindow::Memory);
    memory->table()->setCurrentIndex(memory->model()->index(memory->model()->rowOf(learnedId), 0));
    save(&window, out + QStringLiteral("/memory.png"));

    // Taste: a second person, a "warm minimalist" (likes warm colours, one object, plain backgrounds; dislikes
    // stripes), has judged 120 pairs of the world's pictures; the panel learns her with the shipped encoder.
    {
        const int64_t bea = store->create_profile("bea").id;
        atelier::taste::store_simulated_judgements(*store, bea, atelier::taste::make_simulated_person(21, 0.1, 0), 120);
        TastePanel* taste = window.tastePanel();
        window.setProfile(bea);
        window.showWorkspace(MainWindow::Memory);
        window.memoryTabs()->setCurrentWidget(taste);
        QSignalSpy learnt(taste, &TastePanel::learned);
        taste->learn();
        learnt.wait(120000);
        save(&window, out + QStringLiteral("/taste.png"));
        window.setProfile(me);
        window.memoryTabs()->setCurrentIndex(0);
    }

    // Presenter: the live view with its HUD, then the A/B wipe (personalized | base).
    PresenterWindow* presenter = window.showPresenter(false);
    presenter->resize(1280, 800);
    QSignalSpy shown(presenter, &PresenterWindow::finalImageShown);
    presenter->promptBar()->setText(QStringLiteral("a large orange heart on a plain blue background"));
    presenter->regenerate();
    shown.wait(120000);
    save(presenter, out + QStringLiteral("/presenter.png"));
    presenter->view()->setLayoutMode(PreviewView::Layout::Wipe);
    presenter->view()->setWipePosition(0.5);
    presenter->regenerate();
    shown.wait(120000);
    settle(1500);  // the base image arrives after the personalized one
    save(presenter, out + QStringLiteral("/presenter-wipe.png"));
    presenter->hide();
    return 0;
}
