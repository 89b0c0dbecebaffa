// needs: gl
// labels: slow
// The studio window: four workspaces, keyboard navigation, a status bar that names device and model, and
// best-of-N: a batch of pictures or of clips shown in the order of the profile's taste model.
#include <QtTest>
#include <QCheckBox>
#include <QLabel>
#include <QListWidget>
#include <QPlainTextEdit>
#include <QSpinBox>
#include <QTemporaryDir>

#include "Gallery.h"
#include "GeneratePage.h"
#include "ImageConvert.h"
#include "JobRunner.h"
#include "MainWindow.h"
#include "PreviewView.h"
#include "StudioSetup.h"
#include "atelier/store.h"
#include "atelier/taste.h"
#include "settings_scope.h"

namespace {

// A stored taste model for profile "ada" in `dir`: she likes light pictures (weight on mean OKLab lightness).
atelier::taste::RewardModel storeLightLover(const QTemporaryDir& dir, const atelier::taste::FeatureExtractor& features) {
    atelier::taste::RewardModel model(features.feature_set(), features.names());
    std::vector<double> weights(features.names().size(), 0.0);
    weights[0] = 6.0;  // lightness_mean
    model.set_weights(weights, -1.5);
    atelier::StoreOptions so;
    so.data_dir = dir.path().toStdString();
    auto store = atelier::Store::open(so);
    const atelier::Profile ada = store->create_profile("ada");
    store->save_reward_model(atelier::taste::to_record(model, ada.id, 0.9));
    return model;
}

// Ada, who prefers light pictures, learnt with the picture statistics (the person's setting, for the test).
struct LightLover {
    explicit LightLover(const QTemporaryDir& dir)
        : statistics(SettingsScope::tasteFeatures(QStringLiteral("atelier-basic-v1"))),
          features(atelier::taste::make_feature_extractor(tasteFeatureSet())),
          model(storeLightLover(dir, *features)) {}
    SettingsScope statistics;
    std::unique_ptr<atelier::taste::FeatureExtractor> features;
    atelier::taste::RewardModel model;
};

}  // namespace

class TestMainWindow : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void hasFourWorkspacesAndSwitchesByShortcut() {
        QTemporaryDir dir;
        StudioOptions options;
        options.dataDir = dir.path();
        MainWindow window(options);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        window.activateWindow();
        QVERIFY(QTest::qWaitForWindowActive(&window));
        auto* bar = window.findChild<QListWidget*>(QStringLiteral("workspaceBar"));
        QVERIFY(bar);
        QCOMPARE(bar->count(), 4);
        QCOMPARE(bar->item(0)->text(), QStringLiteral("Generate"));
        QCOMPARE(bar->item(3)->text(), QStringLiteral("Memory"));
        QCOMPARE(window.currentWorkspace(), MainWindow::Generate);
        QTest::keyClick(&window, Qt::Key_3, Qt::ControlModifier);
        QCOMPARE(window.currentWorkspace(), MainWindow::Concepts);
        bar->setCurrentRow(1);
        QCOMPARE(window.currentWorkspace(), MainWindow::Compare);
    }

    void statusBarNamesDeviceAndModel() {
        QTemporaryDir dir;
        StudioOptions options;
        options.dataDir = dir.path();
        MainWindow window(options);
        auto* device = window.findChild<QLabel*>(QStringLiteral("deviceLabel"));
        auto* model = window.findChild<QLabel*>(QStringLiteral("modelLabel"));
        QVERIFY(device && model);
        QVERIFY2(device->text().startsWith(QLatin1String("CPU")) || device->text().startsWith(QLatin1String("CUDA")),
                 qPrintable(device->text()));
        QVERIFY(device->text().contains(QLatin1String("thread")));
        QCOMPARE(model->text(), QStringLiteral("no model loaded"));
        QVERIFY(window.liveView() != nullptr);
    }

    void firstLaunchDrawsTheModelsExamplePrompt() {
        QTemporaryDir dir;
        StudioOptions options;
        options.dataDir = dir.path();
        options.modelPath = QStringLiteral(ATELIER_SOURCE_DIR "/resources/models/atelier-tiny");
        options.firstPicture = true;
        const QString example = QStringLiteral("a large yellow star on a plain blue background");  // its atelier.json
        {
            MainWindow window(options);
            window.show();
            QVERIFY(QTest::qWaitForWindowExposed(&window));
            GeneratePage* page = window.generatePage();
            QTRY_COMPARE_WITH_TIMEOUT(page->gallery()->itemCount(), 1, 60000);
            QCOMPARE(page->promptEdit()->toPlainText(), example);
            QVERIFY2(page->promptEdit()->placeholderText().contains(example), qPrintable(page->promptEdit()->placeholderText()));
            // The picture is the example prompt's, as the engine draws it with the page's seed and defaults.
            atelier::LoadOptions load;
            load.path = options.modelPath.toStdString();
            auto model = atelier::Model::load(load);
            atelier::GenerateRequest request;
            request.prompt = example.toStdString();
            request.seed = uint64_t(page->seedBox()->value());
            request.preview_interval = 0;
            const QImage expected = toQImage(atelier::generate(*model, request).images.at(0));
            const QImage shown = page->gallery()->entry(0).image.convertToFormat(expected.format());
            QCOMPARE(shown.size(), expected.size());
            double diff = 0;
            for (int y = 0; y < shown.height(); ++y)
                for (int x = 0; x < shown.width(); ++x) {
                    const QRgb a = shown.pixel(x, y), b = expected.pixel(x, y);
                    diff += std::abs(qRed(a) - qRed(b)) + std::abs(qGreen(a) - qGreen(b)) + std::abs(qBlue(a) - qBlue(b));
                }
            diff /= 3.0 * shown.width() * shown.height();
            QVERIFY2(diff < 2.0, qPrintable(QStringLiteral("mean difference %1 / 255").arg(diff)));
            QTRY_VERIFY_WITH_TIMEOUT(!window.store()->list_generations(window.profileId(), 1).empty(), 10000);
        }
        {  // The next launch: this person has pictures, so nothing is drawn unasked.
            MainWindow window(options);
            window.show();
            QTRY_VERIFY_WITH_TIMEOUT(window.jobRunner()->hasModel(), 60000);
            QTest::qWait(300);
            QVERIFY(!window.jobRunner()->isBusy());
            QVERIFY(window.generatePage()->promptEdit()->toPlainText().isEmpty());
            QVERIFY(window.generatePage()->promptEdit()->placeholderText().contains(example));
        }
    }

    void bestOfNShowsTheBatchInTasteOrder() {
        QTemporaryDir dir;
        const LightLover ada(dir);
        QCOMPARE(ada.features->feature_set(), std::string("atelier-basic-v1"));  // she speaks of lightness
        const auto& features = ada.features;
        const atelier::taste::RewardModel& model = ada.model;
        StudioOptions options;
        options.dataDir = dir.path();
        options.profile = QStringLiteral("ada");
        options.modelPath = QStringLiteral(ATELIER_FIXTURES_DIR "/tiny-sd-a");
        MainWindow window(options);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        QTRY_VERIFY_WITH_TIMEOUT(window.jobRunner()->hasModel(), 60000);
        GeneratePage* page = window.generatePage();
        page->promptEdit()->setPlainText(QStringLiteral("a red star"));
        page->stepsBox()->setValue(2);
        page->findChild<QSpinBox*>(QStringLiteral("batch"))->setValue(4);
        page->bestOfNBox()->setChecked(true);
        page->startGeneration();
        QTRY_COMPARE_WITH_TIMEOUT(page->gallery()->itemCount(), 4, 60000);
        double previous = 1e9, first = 0, last = 0;
        for (int i = 0; i < 4; ++i) {
            const GalleryItem& item = page->gallery()->entry(i);
            QVERIFY2(item.caption.startsWith(QStringLiteral("#%1 · P(best)").arg(i + 1)), qPrintable(item.caption));
            const double reward = model.reward(features->extract(fromQImage(item.image)));
            QVERIFY2(reward <= previous + 1e-9, "the gallery shows the batch from the best to the worst by her taste");
            previous = reward;
            (i == 0 ? first : last) = reward;
        }
        QVERIFY(first > last);  // the four seeds differ in lightness, so the order is not arbitrary
    }

    void bestOfNRanksClipsByTheMeanOfTheirFrames() {
        QTemporaryDir dir;
        const LightLover ada(dir);
        QCOMPARE(ada.features->feature_set(), std::string("atelier-basic-v1"));  // she speaks of lightness
        const auto& features = ada.features;
        const atelier::taste::RewardModel& model = ada.model;
        StudioOptions options;
        options.dataDir = dir.path();
        options.profile = QStringLiteral("ada");
        options.modelPath = QStringLiteral(ATELIER_SOURCE_DIR "/resources/models/atelier-tiny");  // has a motion module
        MainWindow window(options);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        QTRY_VERIFY_WITH_TIMEOUT(window.jobRunner()->hasModel(), 60000);
        GeneratePage* page = window.generatePage();
        page->promptEdit()->setPlainText(QStringLiteral("a red star moving to the left"));
        page->stepsBox()->setValue(2);
        page->findChild<QSpinBox*>(QStringLiteral("batch"))->setValue(3);
        page->framesBox()->setValue(4);
        page->bestOfNBox()->setChecked(true);
        page->startGeneration();
        QTRY_COMPARE_WITH_TIMEOUT(page->gallery()->itemCount(), 3, 120000);
        double previous = 1e9, first = 0, last = 0;
        for (int i = 0; i < 3; ++i) {
            const GalleryItem& item = page->gallery()->entry(i);
            QVERIFY2(item.caption.startsWith(QStringLiteral("#%1 · P(best)").arg(i + 1)), qPrintable(item.caption));
            QVERIFY2(item.caption.contains(QStringLiteral("4 frames")), qPrintable(item.caption));
            const QVector<QImage> clip = item.payload.value<QVector<QImage>>();
            QCOMPARE(clip.size(), 4);
            std::vector<float> mean;
            for (const QImage& frame : clip) {
                const std::vector<float> f = features->extract(fromQImage(frame));
                if (mean.empty()) mean.assign(f.size(), 0.0f);
                for (size_t k = 0; k < f.size(); ++k) mean[k] += f[k] / 4.0f;
            }
            const double reward = model.reward(mean);
            QVERIFY2(reward <= previous + 1e-6, "the clips are shown from the best to the worst by her taste");
            previous = reward;
            (i == 0 ? first : last) = reward;
        }
        QVERIFY(first > last);
    }
};

int main(int argc, char** argv) {
    configureDefaultSurfaceFormat();
    QStandardPaths::setTestModeEnabled(true);
    QApplication app(argc, argv);
    TestMainWindow test;
    return QTest::qExec(&test, argc, argv);
}

#include "test_mainwindow.moc"
