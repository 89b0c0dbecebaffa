// labels: slow
// Concepts: create one, add pictures (validated, de-duplicated), refuse a non-image with a clear message;
// per-picture captions (stored per asset, edited in place, read from PICTURE.txt, all or none to train).
#include <QtTest>
#include <QCheckBox>
#include <QComboBox>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QMessageBox>
#include <QSlider>
#include <QSignalSpy>
#include <QTemporaryDir>

#include "Charts.h"
#include "ConceptsPage.h"
#include "JobRunner.h"
#include "atelier/concepts.h"
#include "atelier/image.h"
#include "atelier/store.h"
#include "settings_scope.h"

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

void writeText(const QString& path, const QByteArray& text) {
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(text);
}

// The concept's training settings, as stored.
QJsonObject storedSettings(atelier::Store& store, int64_t conceptId) {
    return QJsonDocument::fromJson(QByteArray::fromStdString(store.concept_by_id(conceptId).training_settings_json)).object();
}

// Closes the next modal message box and keeps its text in `shown`.
void captureMessageBox(QString& shown) {
    QTimer::singleShot(100, [&shown] {
        if (auto* box = qobject_cast<QMessageBox*>(QApplication::activeModalWidget())) {
            shown = box->text();
            box->close();
        }
    });
}

// The fixture model on `runner`; false when it did not load within a minute.
bool loadFixture(JobRunner& runner) {
    QSignalSpy loaded(&runner, &JobRunner::modelLoaded);
    runner.loadModel(QStringLiteral(ATELIER_FIXTURES_DIR "/tiny-sd-a"));
    return loaded.wait(60000);
}

// A Concepts page on a new, empty store in a scratch folder (the page asks the runner for a model only to train).
struct PageOnStore {
    PageOnStore() : store(openStore(dir, me)), page(&runner) { page.setStore(store.get(), me); }
    QTemporaryDir dir;
    int64_t me = 0;
    std::unique_ptr<atelier::Store> store;
    JobRunner runner;
    ConceptsPage page;
};

// The same with one concept, "<dot>", of three 24-px pictures.
struct DotConcept : PageOnStore {
    explicit DotConcept(const QString& method) {
        id = page.createConcept(QStringLiteral("Dot"), QStringLiteral("<dot>"), QStringLiteral("circle"), method);
        problems = page.addImages(writePictures(dir, QStringLiteral("dot"), 24, 30, 80));
        assets = store->concept_by_id(id).reference_asset_ids;
    }
    int64_t id = 0;
    QStringList problems;           // what adding the pictures reported
    std::vector<int64_t> assets;    // the pictures, in order
};

}  // namespace

class TestConcepts : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void createAndAddPictures() {
        PageOnStore fixture;
        auto& [dir, me, store, runner, page] = fixture;

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
        PageOnStore fixture;
        auto& [dir, me, store, runner, page] = fixture;
        QVERIFY(loadFixture(runner));
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

    // LoRA adapts the attention and, unless unticked, the convolutions (LoCon); the text encoder when ticked.
    void loraAdaptsConvolutionsAndTheTextEncoderAsAsked() {
        PageOnStore fixture;
        auto& [dir, me, store, runner, page] = fixture;
        QVERIFY(loadFixture(runner));
        auto* method = page.findChild<QComboBox*>(QStringLiteral("conceptMethod"));
        auto* textEncoder = page.findChild<QCheckBox*>(QStringLiteral("conceptTextEncoder"));
        auto* convolutions = page.findChild<QCheckBox*>(QStringLiteral("conceptConvolutions"));
        QVERIFY(method && textEncoder && convolutions);
        QCOMPARE(method->currentData().toString(), QStringLiteral("lora"));  // the method that learns shapes best
        QVERIFY(textEncoder->isEnabled());
        method->setCurrentIndex(method->findData(QStringLiteral("textual_inversion")));
        QVERIFY(!textEncoder->isEnabled());  // no such choice for textual inversion
        QVERIFY(!convolutions->isEnabled());
        method->setCurrentIndex(method->findData(QStringLiteral("lora")));
        QVERIFY(textEncoder->isEnabled());
        QVERIFY(convolutions->isEnabled());
        QVERIFY(convolutions->isChecked());   // LoCon unless unticked
        const QStringList files = writePictures(dir, QStringLiteral("pic"), 64, 40, 70);
        // The same pictures as an attention-only LoRA, a LoCon, and a LoCon with text-encoder adapters: each has
        // more layers than the one before.
        int64_t layers[3] = {0, 0, 0};
        for (int with : {0, 1, 2}) {
            convolutions->setChecked(with >= 1);
            textEncoder->setChecked(with == 2);
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
        QVERIFY(layers[2] > layers[1]);
    }

    // PICTURE.txt beside a picture becomes its caption, with the concept as {} or as its token; one that names
    // neither is refused with the file's name. Captions are kept per asset beside the other training settings.
    void captionFilesArePickedUpAndStoredPerAsset() {
        PageOnStore fixture;
        auto& [dir, me, store, runner, page] = fixture;
        auto* method = page.findChild<QComboBox*>(QStringLiteral("conceptMethod"));
        method->setCurrentIndex(method->findData(QStringLiteral("lora")));
        page.findChild<QCheckBox*>(QStringLiteral("conceptTextEncoder"))->setChecked(true);
        const int64_t id = page.createConcept(QStringLiteral("My mug"), QStringLiteral("<my-mug>"), QStringLiteral("mug"),
                                              QStringLiteral("lora"));
        QVERIFY(id > 0);
        const QStringList files = writePictures(dir, QStringLiteral("mug"), 24, 40, 60);
        writeText(dir.filePath(QStringLiteral("mug0.txt")), "  a red {} on a table\n");
        writeText(dir.filePath(QStringLiteral("mug1.txt")), "a <my-mug> on grass");
        writeText(dir.filePath(QStringLiteral("mug2.txt")), "a mug in the snow");  // names no concept

        const QStringList problems = page.addImages(files);
        QCOMPARE(problems.size(), 1);
        QVERIFY2(problems[0].contains(QStringLiteral("mug2.txt")) && problems[0].contains(QStringLiteral("neither {} nor the token <my-mug>")),
                 qPrintable(problems[0]));
        const std::vector<int64_t> assets = store->concept_by_id(id).reference_asset_ids;
        QCOMPARE(int(assets.size()), 3);  // the picture is kept, without a caption

        const QJsonObject settings = storedSettings(*store, id);
        QCOMPARE(settings.value(QStringLiteral("lora_text_encoder")).toBool(), true);
        const QJsonObject captions = settings.value(QStringLiteral("captions")).toObject();
        QCOMPARE(captions.size(), 2);
        QCOMPARE(captions.value(QString::number(assets[0])).toString(), QStringLiteral("a red {} on a table"));
        QCOMPARE(captions.value(QString::number(assets[1])).toString(), QStringLiteral("a <my-mug> on grass"));
        QVERIFY(!captions.contains(QString::number(assets[2])));
        QCOMPARE(page.caption(assets[0]), QStringLiteral("a red {} on a table"));
        QCOMPARE(page.caption(assets[2]), QString());

        // Shown under each thumbnail; a picture without one says so, in italics.
        QListWidget* list = page.imageList();
        QCOMPARE(list->count(), 3);
        QCOMPARE(list->item(0)->text(), QStringLiteral("a red {} on a table"));
        QCOMPARE(list->item(1)->text(), QStringLiteral("a <my-mug> on grass"));
        QVERIFY(!list->item(0)->font().italic());
        QCOMPARE(list->item(2)->text(), QStringLiteral("no caption"));
        QVERIFY(list->item(2)->font().italic());
        // The same after the page is rebuilt from the store.
        page.refresh();
        QCOMPARE(page.imageList()->item(1)->text(), QStringLiteral("a <my-mug> on grass"));
        QVERIFY(page.findChild<QLabel*>(QStringLiteral("conceptDetails"))->text().contains(QStringLiteral("2 captioned")));
    }

    // Double-click / F2 edits the caption in place (the editor opens on the caption, not on "no caption");
    // the edit is stored at once, other settings kept; one without the concept is refused and not stored.
    void captionsAreEditedInPlace() {
        DotConcept dot(QStringLiteral("textual_inversion"));
        QVERIFY(dot.problems.isEmpty());
        ConceptsPage& page = dot.page;
        atelier::Store* store = dot.store.get();
        const int64_t id = dot.id;
        page.resize(1000, 700);
        page.show();
        QVERIFY(QTest::qWaitForWindowExposed(&page));
        page.findChild<QSlider*>(QStringLiteral("conceptStrength"))->setValue(70);
        const std::vector<int64_t>& assets = dot.assets;
        QListWidget* list = page.imageList();

        const auto editorOf = [list]() -> QLineEdit* {
            for (QLineEdit* line : list->viewport()->findChildren<QLineEdit*>())
                if (line->isVisible()) return line;
            return nullptr;
        };
        list->setCurrentRow(1);
        list->setFocus();
        QTest::keyClick(list, Qt::Key_F2);
        QLineEdit* editor = nullptr;
        QTRY_VERIFY((editor = editorOf()) != nullptr);
        QCOMPARE(editor->text(), QString());  // not the placeholder
        editor->setText(QStringLiteral("a {} on a striped blue background"));
        QTest::keyClick(editor, Qt::Key_Return);
        QTRY_VERIFY(editorOf() == nullptr);
        QCOMPARE(page.caption(assets[1]), QStringLiteral("a {} on a striped blue background"));
        QCOMPARE(list->item(1)->text(), QStringLiteral("a {} on a striped blue background"));
        QVERIFY(!list->item(1)->font().italic());
        QJsonObject settings = storedSettings(*store, id);
        QCOMPARE(settings.value(QStringLiteral("strength")).toDouble(), 0.7);
        QCOMPARE(settings.value(QStringLiteral("captions")).toObject().value(QString::number(assets[1])).toString(),
                 QStringLiteral("a {} on a striped blue background"));

        // A double-click opens the editor on the stored caption; without the concept it is refused.
        const QRect cell = list->visualItemRect(list->item(1));
        QTest::mouseClick(list->viewport(), Qt::LeftButton, {}, cell.center());  // a real double-click starts with one
        QTest::mouseDClick(list->viewport(), Qt::LeftButton, {}, cell.center());
        QTRY_VERIFY((editor = editorOf()) != nullptr);
        QCOMPARE(editor->text(), QStringLiteral("a {} on a striped blue background"));
        editor->setText(QStringLiteral("a circle on stripes"));
        QTest::keyClick(editor, Qt::Key_Return);
        QTRY_VERIFY(editorOf() == nullptr);
        QCOMPARE(page.caption(assets[1]), QStringLiteral("a {} on a striped blue background"));
        const QString hint = page.findChild<QLabel*>(QStringLiteral("captionHint"))->text();
        QVERIFY2(hint.contains(QStringLiteral("neither {} nor the token <dot>")), qPrintable(hint));

        // The page's API: the token form is accepted as written; empty removes the caption, nothing else.
        QCOMPARE(page.setCaption(assets[0], QStringLiteral("  a <dot>   in the snow ")), QString());
        QCOMPARE(page.caption(assets[0]), QStringLiteral("a <dot> in the snow"));
        QVERIFY(page.setCaption(assets[2], QStringLiteral("a dot")).contains(QStringLiteral("neither")));
        QCOMPARE(page.caption(assets[2]), QString());
        QCOMPARE(page.setCaption(assets[1], QString()), QString());
        QCOMPARE(list->item(1)->text(), QStringLiteral("no caption"));
        QVERIFY(list->item(1)->font().italic());
        settings = storedSettings(*store, id);
        QCOMPARE(settings.value(QStringLiteral("captions")).toObject().keys(), QStringList{QString::number(assets[0])});
        QCOMPARE(settings.value(QStringLiteral("strength")).toDouble(), 0.7);
        QVERIFY(!page.setCaption(assets[0] + 1000, QStringLiteral("a {}")).isEmpty());  // not a picture of this concept
    }

    // A caption for some pictures only: Train refuses, says how many lack one, and starts nothing.
    void partialCaptionsRefuseToTrain() {
        DotConcept dot(QStringLiteral("textual_inversion"));
        QVERIFY(dot.problems.isEmpty());
        ConceptsPage& page = dot.page;
        atelier::Store* store = dot.store.get();
        const int64_t id = dot.id;
        const std::vector<int64_t>& assets = dot.assets;
        QCOMPARE(page.setCaption(assets[0], QStringLiteral("a {} on grass")), QString());
        QCOMPARE(page.setCaption(assets[2], QStringLiteral("a <dot> in the snow")), QString());

        atelier::TrainConceptRequest request;
        QString problem;
        QVERIFY(!page.buildTrainRequest(request, problem));
        QVERIFY2(problem.contains(QStringLiteral("1 of 3 pictures has no caption")), qPrintable(problem));
        QVERIFY(request.images.empty());

        QString shown;
        captureMessageBox(shown);
        page.train(4);
        QVERIFY(!page.isTraining());
        QCOMPARE(shown, problem);
        QCOMPARE(page.findChild<QLabel*>(QStringLiteral("trainStatus"))->text(), problem);
        QCOMPARE(store->concept_by_id(id).status, std::string("draft"));
        QVERIFY(page.findChild<QLabel*>(QStringLiteral("conceptDetails"))->text().contains(QStringLiteral("Caption the other 1")));

        // Two without one.
        QCOMPARE(page.setCaption(assets[2], QString()), QString());
        QVERIFY(!page.buildTrainRequest(request, problem));
        QVERIFY2(problem.contains(QStringLiteral("2 of 3 pictures have no caption")), qPrintable(problem));
    }

    // Every picture captioned: the request carries them in the pictures' order, the concept as {}, and no
    // mirroring. None: the templates, mirrored, as before.
    void fullCaptionsReachTheRequest() {
        DotConcept dot(QStringLiteral("rank1"));
        QVERIFY(dot.problems.isEmpty());
        ConceptsPage& page = dot.page;
        const std::vector<int64_t>& assets = dot.assets;

        atelier::TrainConceptRequest plain;
        QString problem;
        QVERIFY2(page.buildTrainRequest(plain, problem), qPrintable(problem));
        QVERIFY(plain.captions.empty());
        QVERIFY(plain.flip);
        QCOMPARE(int(plain.images.size()), 3);
        QVERIFY(!plain.gradient_checkpointing);
        {   // Settings > Concept training: save memory
            const SettingsScope saveMemory([](StudioSettings& s) { s.trainingSavesMemory = true; });
            atelier::TrainConceptRequest lean;
            QVERIFY2(page.buildTrainRequest(lean, problem), qPrintable(problem));
            QVERIFY(lean.gradient_checkpointing);
        }

        // Set out of order, so that the request's order is the pictures' and not the editing order.
        QCOMPARE(page.setCaption(assets[2], QStringLiteral("a {} in the snow")), QString());
        QCOMPARE(page.setCaption(assets[0], QStringLiteral("a red {} on a table")), QString());
        QCOMPARE(page.setCaption(assets[1], QStringLiteral("a <dot> on grass, left of a <dot>")), QString());
        atelier::TrainConceptRequest request;
        QVERIFY2(page.buildTrainRequest(request, problem), qPrintable(problem));
        const std::vector<std::string> expected = {"a red {} on a table", "a {} on grass, left of a <dot>", "a {} in the snow"};
        QCOMPARE(request.captions, expected);
        QVERIFY(!request.flip);
        QCOMPARE(int(request.images.size()), 3);
        QCOMPARE(request.images[0].width, 24);
        QCOMPARE(request.images[0].pixels[0], uint8_t(30));
        QCOMPARE(request.images[2].pixels[0], uint8_t(190));
        QCOMPARE(request.token, std::string("<dot>"));
        QCOMPARE(request.class_word, std::string("circle"));
        QCOMPARE(request.method, std::string("rank1"));
    }

    // Deleting a concept takes it out of the list and the prompt's tokens, with the file the studio trained for it.
    void deleteRemovesTheConceptAndItsTrainedFile() {
        DotConcept fixture(QStringLiteral("lora"));
        ConceptsPage& page = fixture.page;
        const auto& store = fixture.store;
        const int64_t other = page.createConcept(QStringLiteral("Box"), QStringLiteral("<box>"), QStringLiteral("box"),
                                                 QStringLiteral("lora"));
        QVERIFY(other > 0);
        atelier::Concept dot = store->concept_by_id(fixture.id);
        const QString file = QString::fromStdString(store->data_dir()) + QStringLiteral("/concepts/dot.safetensors");
        QDir().mkpath(QFileInfo(file).path());
        writeText(file, "trained");
        dot.artifact_path = file.toStdString();
        dot.status = "ready";
        store->update_concept(dot);
        page.refresh();
        QCOMPARE(page.conceptList()->count(), 2);
        QVERIFY(page.triggerTokens().contains(QStringLiteral("<dot>")));

        QSignalSpy changed(&page, &ConceptsPage::conceptsChanged);
        QVERIFY(page.deleteConcept(fixture.id));
        QCOMPARE(changed.count(), 1);
        QCOMPARE(page.conceptList()->count(), 1);
        QVERIFY(!page.triggerTokens().contains(QStringLiteral("<dot>")));
        QVERIFY(!QFileInfo::exists(file));
        QCOMPARE(store->list_concepts().size(), size_t(1));
        QCOMPARE(page.selectedConcept(), other);  // the list moves on to what is left
    }

    void refusesDuplicateTriggerAndEmptyFields() {
        QTemporaryDir dir;
        atelier::StoreOptions options;
        options.data_dir = dir.path().toStdString();
        auto store = atelier::Store::open(options);
        JobRunner runner;
        ConceptsPage page(&runner);
        page.setStore(store.get(), store->create_profile("d").id);
        auto* lossCurve = page.findChild<LineChart*>();
        QVERIFY(lossCurve);
        QCOMPARE(lossCurve->tickLabel(0.03), QStringLiteral("0.03"));  // a loss, not "3%"
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
