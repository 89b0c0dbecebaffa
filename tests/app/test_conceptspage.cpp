// labels: slow
// Concepts: create one, add pictures (validated, de-duplicated), refuse a non-image with a clear message.
#include <QtTest>
#include <QCheckBox>
#include <QComboBox>
#include <QListWidget>
#include <QSignalSpy>
#include <QTemporaryDir>

#include "ConceptsPage.h"
#include "JobRunner.h"
#include "atelier/concepts.h"
#include "atelier/image.h"
#include "atelier/store.h"

namespace {

// A store in `dir` with one profile.
std::unique_ptr<atelier::Store> openStore(const QTemporaryDir& dir, int64_t& profile) {
    atelier::StoreOptions options;
    options.data_dir = (dir.path() + QStringLiteral("/data")).toStdString();
    auto store = atelier::Store::open(options);
    profile = store->create_profile("designer").id;
    return store;
}

// Three flat pictures size x size, grey levels base, base + step, base + 2 step, as PNGs in `dir`.
QStringList writePictures(const QTemporaryDir& dir, const QString& stem, int size, int base, int step) {
    QStringList files;
    for (int i = 0; i < 3; ++i) {
        atelier::Image image{size, size, 3, std::vector<uint8_t>(size_t(size * size * 3), uint8_t(base + step * i))};
        const QString path = dir.filePath(QStringLiteral("%1%2.png").arg(stem).arg(i));
        atelier::write_png(path.toStdString(), image);
        files << path;
    }
    return files;
}

// The fixture model on `runner`; false when it did not load within a minute.
bool loadFixture(JobRunner& runner) {
    QSignalSpy loaded(&runner, &JobRunner::modelLoaded);
    runner.loadModel(QStringLiteral(ATELIER_FIXTURES_DIR "/tiny-sd-a"));
    return loaded.wait(60000);
}

}  // namespace

class TestConcepts : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void createAndAddPictures() {
        QTemporaryDir dir;
        int64_t me = 0;
        auto store = openStore(dir, me);
        JobRunner runner;
        ConceptsPage page(&runner);
        page.setStore(store.get(), me);

        const int64_t id = page.createConcept(QStringLiteral("My mug"), QStringLiteral("<my-mug>"), QStringLiteral("mug"),
                                              QStringLiteral("textual_inversion"));
        QVERIFY(id > 0);
        QCOMPARE(page.selectedConcept(), id);
        QCOMPARE(page.triggerTokens(), QStringList{QStringLiteral("<my-mug>")});

        const QStringList files = writePictures(dir, QStringLiteral("mug"), 24, 40, 60);
        const QString copy = dir.filePath(QStringLiteral("mug0-again.png"));
        QVERIFY(QFile::copy(files[0], copy));
        const QString text = dir.filePath(QStringLiteral("notes.png"));
        QFile f(text);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("not a picture");
        f.close();

        const QStringList problems = page.addImages(files + QStringList{copy, text});
        QCOMPARE(problems.size(), 2);
        QVERIFY2(problems[0].contains(QStringLiteral("mug0-again.png")) && problems[0].contains(QStringLiteral("already")),
                 qPrintable(problems[0]));
        QVERIFY2(problems[1].contains(QStringLiteral("notes.png")) && problems[1].contains(QStringLiteral("not a readable image")),
                 qPrintable(problems[1]));
        const atelier::Concept stored = store->concept_by_id(id);
        QCOMPARE(int(stored.reference_asset_ids.size()), 3);
        QCOMPARE(stored.class_word, std::string("mug"));
        QCOMPARE(page.imageList()->count(), 3);
    }

    void trainsOnTheWorkerAndAppliesTheConcept() {
        QTemporaryDir dir;
        int64_t me = 0;
        auto store = openStore(dir, me);
        JobRunner runner;
        QVERIFY(loadFixture(runner));
        ConceptsPage page(&runner);
        page.setStore(store.get(), me);
        const int64_t id = page.createConcept(QStringLiteral("Dot"), QStringLiteral("<dot>"), QStringLiteral("circle"),
                                              QStringLiteral("textual_inversion"));
        const QStringList files = writePictures(dir, QStringLiteral("dot"), 64, 30, 80);
        QVERIFY(page.addImages(files).isEmpty());
        QSignalSpy finished(&page, &ConceptsPage::trainingFinished);
        page.train(6);
        QVERIFY(page.isTraining());
        QVERIFY(finished.wait(600000));
        QCOMPARE(finished.at(0).at(1).toBool(), true);
        const atelier::Concept trained = store->concept_by_id(id);
        QCOMPARE(trained.status, std::string("ready"));
        QVERIFY(QFile::exists(QString::fromStdString(trained.artifact_path)));
        QVERIFY(QString::fromStdString(trained.metrics_json).contains(QStringLiteral("eval_loss_after")));
        const auto specs = page.conceptsFor(QStringLiteral("a photo of <dot> on the beach"));
        QCOMPARE(int(specs.size()), 1);
        QCOMPARE(specs[0].path, trained.artifact_path);
        QVERIFY(page.conceptsFor(QStringLiteral("a photo of a dot")).empty());
        // The before/after preview: 4 images without the concept, 4 with it.
        auto* preview = page.findChild<QListWidget*>(QStringLiteral("conceptPreview"));
        QTRY_COMPARE_WITH_TIMEOUT(preview->count(), 8, 300000);
    }

    void loraCanAdaptTheTextEncoder() {
        QTemporaryDir dir;
        int64_t me = 0;
        auto store = openStore(dir, me);
        JobRunner runner;
        QVERIFY(loadFixture(runner));
        ConceptsPage page(&runner);
        page.setStore(store.get(), me);
        auto* method = page.findChild<QComboBox*>(QStringLiteral("conceptMethod"));
        auto* textEncoder = page.findChild<QCheckBox*>(QStringLiteral("conceptTextEncoder"));
        QVERIFY(method && textEncoder);
        QVERIFY(!textEncoder->isEnabled());  // textual inversion first: no such choice
        method->setCurrentIndex(method->findData(QStringLiteral("lora")));
        QVERIFY(textEncoder->isEnabled());
        const QStringList files = writePictures(dir, QStringLiteral("pic"), 64, 40, 70);
        // The same pictures as a UNet-only LoRA and as one with text-encoder adapters: the second has more layers.
        int64_t layers[2] = {0, 0};
        for (int with : {0, 1}) {
            textEncoder->setChecked(with == 1);
            const int64_t id = page.createConcept(QStringLiteral("Box %1").arg(with), QStringLiteral("<box-%1>").arg(with),
                                                  QStringLiteral("box"), QStringLiteral("lora"));
            QVERIFY(id > 0);
            QVERIFY(page.addImages(files).isEmpty());
            QSignalSpy finished(&page, &ConceptsPage::trainingFinished);
            page.train(4);
            QVERIFY(finished.wait(600000));
            const atelier::Concept trained = store->concept_by_id(id);
            QCOMPARE(trained.status, std::string("ready"));
            layers[with] = atelier::inspect_concept_file(trained.artifact_path).layers;
        }
        QVERIFY(layers[0] > 0);
        QVERIFY(layers[1] > layers[0]);
    }

    void refusesDuplicateTriggerAndEmptyFields() {
        QTemporaryDir dir;
        atelier::StoreOptions options;
        options.data_dir = dir.path().toStdString();
        auto store = atelier::Store::open(options);
        JobRunner runner;
        ConceptsPage page(&runner);
        page.setStore(store.get(), store->create_profile("d").id);
        QVERIFY(page.createConcept(QStringLiteral("A"), QStringLiteral("<a>"), QStringLiteral("cat"), QStringLiteral("lora")) > 0);
        // Message boxes are dismissed by the timer; what matters is that nothing is created.
        QTimer::singleShot(100, [] {
            if (QWidget* box = QApplication::activeModalWidget()) box->close();
        });
        QCOMPARE(page.createConcept(QStringLiteral("B"), QStringLiteral("<A>"), QStringLiteral("dog"), QStringLiteral("lora")), int64_t(0));
        QTimer::singleShot(100, [] {
            if (QWidget* box = QApplication::activeModalWidget()) box->close();
        });
        QCOMPARE(page.createConcept(QString(), QStringLiteral("<c>"), QStringLiteral("dog"), QStringLiteral("lora")), int64_t(0));
        QCOMPARE(int(store->list_concepts().size()), 1);
    }
};

QTEST_MAIN(TestConcepts)
#include "test_conceptspage.moc"
