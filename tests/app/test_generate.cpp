// needs: gl
// labels: slow
// Generating through the studio (worker thread, previews, cancel) gives the same pixels as atelier-cli,
// and bad models give a clear message while the studio keeps working.
#include <algorithm>

#include <QtTest>
#include <QComboBox>
#include <QLabel>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QProcess>
#include <QPushButton>
#include <QSpinBox>
#include <QTemporaryDir>

#include "ClipPlayer.h"
#include "Gallery.h"
#include "GeneratePage.h"
#include "JobRunner.h"
#include "MainWindow.h"
#include "StudioSetup.h"
#include "atelier/image.h"

namespace {
const QString kModel = QStringLiteral(ATELIER_FIXTURES_DIR "/tiny-sd-a");

// Closes every modal message box as it appears and remembers what it said.
struct MessageCatcher : QObject {
    QStringList texts;
    QTimer timer;
    MessageCatcher() {
        connect(&timer, &QTimer::timeout, this, [this] {
            if (auto* box = qobject_cast<QMessageBox*>(QApplication::activeModalWidget())) {
                texts << box->text();
                box->done(QMessageBox::Ok);
            }
        });
        timer.start(30);
    }
};
// The fixture's motion adapter with a motion_loras.json naming one (zero) motion LoRA for "moving up": a
// safetensors file written by hand (8-byte header length, JSON header, float32 data).
QString motionAdapterWithWords(const QTemporaryDir& dir) {
    const QString from = QStringLiteral(ATELIER_FIXTURES_DIR "/tiny-animatediff-a/motion-adapter");
    for (const char* name : {"config.json", "diffusion_pytorch_model.safetensors"})
        QFile::copy(from + QLatin1Char('/') + QLatin1String(name), dir.filePath(QLatin1String(name)));
    const QByteArray module = "unet.down_blocks.0.motion_modules.0.transformer_blocks.0.attn1.to_q";
    QByteArray header = "{\"" + module + ".lora_A.weight\": {\"dtype\": \"F32\", \"shape\": [1, 32], \"data_offsets\": [0, 128]}, \"" +
                        module + ".lora_B.weight\": {\"dtype\": \"F32\", \"shape\": [32, 1], \"data_offsets\": [128, 256]}}";
    while (header.size() % 8) header.append(' ');
    QFile lora(dir.filePath(QStringLiteral("up.safetensors")));
    if (!lora.open(QIODevice::WriteOnly)) return {};
    const quint64 n = quint64(header.size());
    for (int i = 0; i < 8; ++i) lora.putChar(char((n >> (8 * i)) & 0xff));
    lora.write(header);
    lora.write(QByteArray(256, '\0'));
    lora.close();
    QFile json(dir.filePath(QStringLiteral("motion_loras.json")));
    if (!json.open(QIODevice::WriteOnly)) return {};
    json.write(R"({"motion_loras": [{"phrase": "moving up", "file": "up.safetensors"}]})");
    return dir.path();
}

}  // namespace

class TestGenerate : public QObject {
    Q_OBJECT
private:
    QTemporaryDir dataDir_;

    std::unique_ptr<MainWindow> studio(const QString& model) {
        StudioOptions options;
        options.modelPath = model;
        options.dataDir = dataDir_.path();
        options.profile = QStringLiteral("tester");
        auto window = std::make_unique<MainWindow>(options);
        window->show();
        return window;
    }

private Q_SLOTS:
    void initTestCase() { QVERIFY(QFile::exists(kModel + QStringLiteral("/model_index.json"))); }

    void sameImageAsCliWithPreviews() {
        auto window = studio(kModel);
        QSignalSpy loaded(window->jobRunner(), &JobRunner::modelLoaded);
        QVERIFY(loaded.wait(60000));
        QTRY_VERIFY_WITH_TIMEOUT(!window->jobRunner()->isBusy(), 10000);  // the load job's end follows its signal
        GeneratePage* page = window->generatePage();
        page->promptEdit()->setPlainText(QStringLiteral("a photo of a cat"));
        page->stepsBox()->setValue(4);
        page->seedBox()->setValue(42);
        page->samplerBox()->setCurrentIndex(page->samplerBox()->findData(QStringLiteral("ddim")));
        QSignalSpy generated(window->jobRunner(), &JobRunner::generated);
        QSignalSpy previews(window->jobRunner(), &JobRunner::preview);
        page->generateButton()->click();
        QVERIFY(generated.wait(60000));
        QCOMPARE(previews.count(), 4);
        QCOMPARE(page->gallery()->itemCount(), 1);
        const QImage studioImage = page->gallery()->entry(0).image.convertToFormat(QImage::Format_RGB888);

        QTemporaryDir out;
        const QString png = out.filePath(QStringLiteral("cli.png"));
        QProcess cli;
        cli.start(QStringLiteral(ATELIER_CLI_PATH),
                  {QStringLiteral("generate"), QStringLiteral("--model"), kModel, QStringLiteral("--prompt"),
                   QStringLiteral("a photo of a cat"), QStringLiteral("--steps"), QStringLiteral("4"),
                   QStringLiteral("--seed"), QStringLiteral("42"), QStringLiteral("--sampler"), QStringLiteral("ddim"),
                   QStringLiteral("--guidance"), QStringLiteral("7.5"), QStringLiteral("-o"), png});
        QVERIFY(cli.waitForFinished(120000));
        QVERIFY2(cli.exitCode() == 0, cli.readAllStandardError().constData());
        const atelier::Image cliImage = atelier::read_image(png.toStdString());
        QCOMPARE(cliImage.width, studioImage.width());
        QCOMPARE(cliImage.height, studioImage.height());
        int differing = 0;
        for (int y = 0; y < studioImage.height(); ++y) {
            const uchar* row = studioImage.constScanLine(y);
            for (int x = 0; x < studioImage.width() * 3; ++x)
                if (row[x] != cliImage.pixels[size_t(y) * cliImage.width * 3 + x]) ++differing;
        }
        QCOMPARE(differing, 0);

        // The generation is in the store with what it takes to regenerate it.
        const auto records = window->store()->list_generations(window->profileId());
        QCOMPARE(int(records.size()), 1);
        QCOMPARE(records[0].seed, uint64_t(42));
        QCOMPARE(records[0].steps, 4);
        QCOMPARE(records[0].prompt, std::string("a photo of a cat"));
    }

    // The gallery's selection goes to Compare as one queue of every pair of its pictures.
    void selectedPicturesBecomeACompareQueue() {
        auto window = studio(kModel);
        QTRY_VERIFY_WITH_TIMEOUT(window->jobRunner()->hasModel() && !window->jobRunner()->isBusy(), 60000);
        GeneratePage* page = window->generatePage();
        page->promptEdit()->setPlainText(QStringLiteral("a red star"));
        page->stepsBox()->setValue(2);
        page->findChild<QSpinBox*>(QStringLiteral("batch"))->setValue(3);
        page->startGeneration();
        QTRY_COMPARE_WITH_TIMEOUT(page->gallery()->itemCount(), 3, 60000);
        QSignalSpy sent(page, &GeneratePage::sendToCompare);
        Q_EMIT page->gallery()->sendToCompareRequested({0, 1, 2});
        QCOMPARE(sent.count(), 1);
        QCOMPARE(sent.at(0).at(0).value<QVector<QImage>>().size(), 3);
        QCOMPARE(window->currentWorkspace(), MainWindow::Compare);
        const auto queues = window->store()->list_queues();
        QCOMPARE(int(queues.size()), 1);
        QCOMPARE(window->store()->queue_progress(queues[0].id).total_items, int64_t(3));  // 3 pictures: 3 pairs
    }

    void cancelStopsWithinAStepAndStaysUsable() {
        auto window = studio(kModel);
        QSignalSpy loaded(window->jobRunner(), &JobRunner::modelLoaded);
        QVERIFY(loaded.wait(60000));
        QTRY_VERIFY_WITH_TIMEOUT(!window->jobRunner()->isBusy(), 10000);  // the load job's end follows its signal
        GeneratePage* page = window->generatePage();
        page->promptEdit()->setPlainText(QStringLiteral("a red star"));
        page->stepsBox()->setValue(150);
        QSignalSpy progress(window->jobRunner(), &JobRunner::progress);
        QSignalSpy cancelled(window->jobRunner(), &JobRunner::generationCancelled);
        page->generateButton()->click();
        QVERIFY(progress.wait(30000));
        QTRY_VERIFY_WITH_TIMEOUT(progress.count() >= 3, 30000);
        page->cancelButton()->click();
        const int stepsAtCancel = progress.count();
        QVERIFY(cancelled.wait(30000));
        QVERIFY2(progress.count() - stepsAtCancel <= 1, "the worker stops within one step");
        QVERIFY(progress.count() < 150);
        QVERIFY(!window->jobRunner()->isBusy() || QTest::qWaitFor([&] { return !window->jobRunner()->isBusy(); }));
        QVERIFY(page->generateButton()->isEnabled());

        page->stepsBox()->setValue(2);
        QSignalSpy generated(window->jobRunner(), &JobRunner::generated);
        page->generateButton()->click();
        QVERIFY(generated.wait(60000));
    }

    void clipsPlayInTheLiveView() {
        auto window = studio(kModel);
        QSignalSpy loaded(window->jobRunner(), &JobRunner::modelLoaded);
        QVERIFY(loaded.wait(60000));
        QTRY_VERIFY_WITH_TIMEOUT(!window->jobRunner()->isBusy(), 10000);  // the load job's end follows its signal
        QSignalSpy motion(window.get(), &MainWindow::motionModuleLoaded);
        window->loadMotionModule(QStringLiteral(ATELIER_FIXTURES_DIR "/tiny-animatediff-a/motion-adapter"));
        QVERIFY(motion.wait(60000));
        GeneratePage* page = window->generatePage();
        QCOMPARE(page->framesBox()->value(), 16);  // video mode switched on
        QVERIFY(!page->framesBox()->toolTip().contains(QStringLiteral("Motion words")));
        // A module with motion words: the Video box's tooltip names them.
        QTemporaryDir wordsDir;
        window->loadMotionModule(motionAdapterWithWords(wordsDir));
        QVERIFY(motion.wait(60000));
        QVERIFY2(page->framesBox()->toolTip().contains(QStringLiteral("Motion words this module knows (each applies its "
                                                                       "motion LoRA to the clip): “moving up”")),
                 qPrintable(page->framesBox()->toolTip()));
        // The page says which motion words a clip's prompt holds, as it is typed; a picture gets none.
        page->framesBox()->setValue(0);
        page->promptEdit()->setPlainText(QStringLiteral("a red circle Moving Up on a plain white background"));
        QVERIFY(page->motionWordsLabel()->isHidden());
        page->framesBox()->setValue(8);
        QVERIFY(page->motionWordsLabel()->isVisible());
        QVERIFY2(page->motionWordsLabel()->text().startsWith(QStringLiteral("Motion words: “moving up”")),
                 qPrintable(page->motionWordsLabel()->text()));
        // A clip with none: the words the module knows, so a person can find them.
        page->promptEdit()->setPlainText(QStringLiteral("a photo of a cat"));
        QVERIFY(page->motionWordsLabel()->isVisible());
        QVERIFY2(page->motionWordsLabel()->text() == QStringLiteral("Motion words you can add: “moving up”"),
                 qPrintable(page->motionWordsLabel()->text()));
        page->framesBox()->setValue(0);
        QVERIFY(page->motionWordsLabel()->isHidden());
        page->framesBox()->setValue(8);
        page->stepsBox()->setValue(2);
        QSignalSpy generated(window->jobRunner(), &JobRunner::generated);
        page->generateButton()->click();
        QVERIFY(generated.wait(120000));
        QCOMPARE(page->gallery()->itemCount(), 1);  // one entry per clip
        const QVector<QImage> clip = page->gallery()->entry(0).payload.value<QVector<QImage>>();
        QCOMPARE(clip.size(), 8);
        ClipPlayer* player = page->player();
        QVERIFY(player->hasClip());
        QVERIFY(player->isPlaying());
        QTRY_VERIFY_WITH_TIMEOUT(player->frame() > 0, 3000);
        player->step(1);
        QVERIFY(!player->isPlaying());
        const int shown = player->frame();
        player->seek(5);
        QCOMPARE(player->frame(), 5);
        QVERIFY(shown >= 0);

        // Prompt travel from the prompt box: a keyframe beyond the clip is refused with a message that says
        // so; a good one makes a clip whose prompt is stored as written (so it regenerates).
        QVERIFY(page->travelLabel()->isHidden());  // an ordinary prompt
        MessageCatcher catcher;
        QSignalSpy failed(window->jobRunner(), &JobRunner::generationFailed);
        page->promptEdit()->setPlainText(QStringLiteral("a photo of\n0: a cat\n8: a dog"));
        // Said as it is typed, before any generation:
        QVERIFY(page->travelLabel()->isVisible());
        QVERIFY2(page->travelLabel()->text().contains(QStringLiteral("keyframe 8 is beyond the clip's 8 frames")),
                 qPrintable(page->travelLabel()->text()));
        page->framesBox()->setValue(9);
        QCOMPARE(page->travelLabel()->text(), QStringLiteral("Prompt travel over 9 frames: keyframes 0, 8"));
        page->framesBox()->setValue(0);
        QVERIFY(page->travelLabel()->text().contains(QStringLiteral("a picture uses frame 0's prompt")));
        page->framesBox()->setValue(8);
        page->generateButton()->click();
        QVERIFY(failed.wait(60000));
        QVERIFY2(failed.at(0).at(1).toString().contains(QStringLiteral("keyframe 8 is beyond the clip's 8 frames")),
                 qPrintable(failed.at(0).at(1).toString()));
        QTRY_COMPARE(catcher.texts.size(), 1);
        QTRY_VERIFY_WITH_TIMEOUT(!window->jobRunner()->isBusy(), 10000);
        const QString travel = QStringLiteral("a photo of\n0: a cat\n7: a dog");
        page->promptEdit()->setPlainText(travel);
        page->generateButton()->click();
        QVERIFY(generated.wait(120000));
        QCOMPARE(page->gallery()->itemCount(), 2);
        QCOMPARE(page->gallery()->entry(0).payload.value<QVector<QImage>>().size() +
                     page->gallery()->entry(1).payload.value<QVector<QImage>>().size(),
                 16);
        const auto records = window->store()->list_generations(window->profileId());
        QVERIFY(std::any_of(records.begin(), records.end(),
                            [&](const atelier::GenerationRecord& r) { return r.prompt == travel.toStdString(); }));
    }

    void badModelsGiveClearMessages() {
        MessageCatcher catcher;
        auto window = studio(QStringLiteral("/nonexistent/model-folder"));
        QSignalSpy failed(window->jobRunner(), &JobRunner::modelFailed);
        QVERIFY(failed.wait(30000));
        QVERIFY2(failed.at(0).at(1).toString().contains(QStringLiteral("/nonexistent/model-folder")),
                 qPrintable(failed.at(0).at(1).toString()));
        QTRY_COMPARE(catcher.texts.size(), 1);

        QTemporaryDir dir;
        const QString corrupt = dir.filePath(QStringLiteral("broken.safetensors"));
        QFile file(corrupt);
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.write("\x10\x00\x00\x00\x00\x00\x00\x00{\"a\": ", 14);
        file.close();
        window->openModel(corrupt);
        QVERIFY(failed.wait(30000));
        QVERIFY2(failed.at(1).at(1).toString().contains(QStringLiteral("broken.safetensors")),
                 qPrintable(failed.at(1).at(1).toString()));
        QTRY_COMPARE(catcher.texts.size(), 2);

        // Still usable: a good model loads afterwards.
        QSignalSpy loaded(window->jobRunner(), &JobRunner::modelLoaded);
        window->openModel(kModel);
        QVERIFY(loaded.wait(60000));
        QVERIFY(window->jobRunner()->hasModel());
    }
};

int main(int argc, char** argv) {
    configureDefaultSurfaceFormat();
    QStandardPaths::setTestModeEnabled(true);
    QApplication app(argc, argv);
    QApplication::setOrganizationName(QStringLiteral("AtelierTest"));
    TestGenerate test;
    return QTest::qExec(&test, argc, argv);
}

#include "test_generate.moc"
