#include "ConceptsPage.h"

#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QJsonDocument>
#include <QJsonObject>
#include <QPointer>
#include <QProgressBar>
#include <QSlider>
#include <QDragEnterEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QMessageBox>
#include <QMimeData>
#include <QPushButton>
#include <QRegularExpression>
#include <QVBoxLayout>

#include "Charts.h"
#include "ImageConvert.h"
#include "atelier/concepts.h"

namespace {
constexpr int kMaxImages = 20;
constexpr int kMinImages = 3;

QString methodLabel(const std::string& method) {
    if (method == "lora") return QObject::tr("LoRA");
    if (method == "rank1") return QObject::tr("Key-locked rank-1 edit");
    return QObject::tr("Textual inversion");
}
}  // namespace

ConceptsPage::ConceptsPage(JobRunner* runner, QWidget* parent) : QWidget(parent), runner_(runner) {
    setAcceptDrops(true);
    auto* layout = new QHBoxLayout(this);

    auto* left = new QVBoxLayout;
    concepts_ = new QListWidget;
    concepts_->setObjectName(QStringLiteral("conceptList"));
    concepts_->setFixedWidth(260);
    connect(concepts_, &QListWidget::currentRowChanged, this, [this](int row) {
        conceptId_ = row >= 0 ? concepts_->item(row)->data(Qt::UserRole).toLongLong() : 0;
        showConcept();
    });
    left->addWidget(new QLabel(tr("<b>Concepts</b>")));
    left->addWidget(concepts_, 1);

    auto* form = new QFormLayout;
    name_ = new QLineEdit;
    name_->setObjectName(QStringLiteral("conceptName"));
    name_->setPlaceholderText(tr("My mug"));
    token_ = new QLineEdit;
    token_->setObjectName(QStringLiteral("conceptToken"));
    token_->setPlaceholderText(tr("<my-mug>"));
    classWord_ = new QLineEdit;
    classWord_->setObjectName(QStringLiteral("conceptClass"));
    classWord_->setPlaceholderText(tr("mug"));
    method_ = new QComboBox;
    method_->setObjectName(QStringLiteral("conceptMethod"));
    method_->addItem(tr("Textual inversion (small, fast)"), QStringLiteral("textual_inversion"));
    method_->addItem(tr("LoRA (more faithful)"), QStringLiteral("lora"));
    method_->addItem(tr("Key-locked rank-1 edit (combines well)"), QStringLiteral("rank1"));
    connect(name_, &QLineEdit::textEdited, this, [this](const QString& text) {
        QString slug = text.trimmed().toLower();
        slug.replace(QRegularExpression(QStringLiteral("[^a-z0-9]+")), QStringLiteral("-"));
        token_->setText(QStringLiteral("<%1>").arg(slug));
    });
    form->addRow(tr("Name"), name_);
    form->addRow(tr("Trigger"), token_);
    form->addRow(tr("Class word"), classWord_);
    form->addRow(tr("Method"), method_);
    textEncoder_ = new QCheckBox(tr("Also adapt the text encoder"));
    textEncoder_->setObjectName(QStringLiteral("conceptTextEncoder"));
    textEncoder_->setToolTip(tr("LoRA: adapters on the text encoder's attention too (lora_te_ keys): the token's "
                                "meaning can move, at about twice the file size"));
    textEncoder_->setEnabled(false);
    connect(method_, &QComboBox::currentIndexChanged, this, [this] {
        textEncoder_->setEnabled(method_->currentData().toString() == QStringLiteral("lora"));
    });
    form->addRow(QString(), textEncoder_);
    left->addLayout(form);
    auto* create = new QPushButton(tr("Create concept"));
    create->setObjectName(QStringLiteral("createConcept"));
    connect(create, &QPushButton::clicked, this, [this] {
        createConcept(name_->text(), token_->text(), classWord_->text(), method_->currentData().toString());
    });
    left->addWidget(create);
    layout->addLayout(left);

    auto* right = new QVBoxLayout;
    heading_ = new QLabel;
    heading_->setObjectName(QStringLiteral("conceptHeading"));
    heading_->setStyleSheet(QStringLiteral("font-size: 18px; font-weight: bold;"));
    details_ = new QLabel;
    details_->setObjectName(QStringLiteral("conceptDetails"));
    details_->setWordWrap(true);
    images_ = new QListWidget;
    images_->setObjectName(QStringLiteral("conceptImages"));
    images_->setViewMode(QListView::IconMode);
    images_->setIconSize(QSize(160, 160));
    images_->setResizeMode(QListView::Adjust);
    images_->setMovement(QListView::Static);
    images_->setSpacing(8);
    auto* buttons = new QHBoxLayout;
    addImages_ = new QPushButton(tr("Add pictures…"));
    connect(addImages_, &QPushButton::clicked, this, [this] {
        const QStringList files = QFileDialog::getOpenFileNames(this, tr("Pictures of the concept"), QString(),
                                                                tr("Images (*.png *.jpg *.jpeg *.bmp *.gif *.tga)"));
        if (!files.isEmpty()) showProblems(addImages(files));
    });
    train_ = new QPushButton(tr("Train"));
    train_->setObjectName(QStringLiteral("trainConcept"));
    connect(train_, &QPushButton::clicked, this, [this] { train(); });
    cancelTrain_ = new QPushButton(tr("Cancel"));
    cancelTrain_->setEnabled(false);
    connect(cancelTrain_, &QPushButton::clicked, this, &ConceptsPage::cancelTraining);
    exportButton_ = new QPushButton(tr("Export…"));
    connect(exportButton_, &QPushButton::clicked, this, [this] {
        if (!store_ || !conceptId_) return;
        const atelier::Concept c = store_->concept_by_id(conceptId_);
        if (c.artifact_path.empty()) return;
        const QString to = QFileDialog::getSaveFileName(this, tr("Export the concept file"),
                                                        QFileInfo(QString::fromStdString(c.artifact_path)).fileName(),
                                                        tr("safetensors (*.safetensors)"));
        if (!to.isEmpty() && !QFile::copy(QString::fromStdString(c.artifact_path), to))
            QMessageBox::warning(this, tr("Export"), tr("Could not write %1").arg(to));
    });
    auto* importButton = new QPushButton(tr("Import file…"));
    connect(importButton, &QPushButton::clicked, this, [this] {
        const QString path = QFileDialog::getOpenFileName(this, tr("A concept, LoRA or embedding file"), QString(),
                                                          tr("safetensors (*.safetensors)"));
        if (path.isEmpty() || !store_) return;
        try {
            const atelier::ConceptFileInfo info = atelier::inspect_concept_file(path.toStdString());
            atelier::Concept c;
            c.profile_id = profileId_;
            c.name = QFileInfo(path).completeBaseName().toStdString();
            c.trigger_token = info.token.empty() ? "<" + c.name + ">" : info.token;
            c.class_word = info.class_word;
            c.method = info.method;
            c.status = "ready";
            c.artifact_path = path.toStdString();
            conceptId_ = store_->create_concept(c);
            refresh();
            Q_EMIT conceptsChanged();
        } catch (const std::exception& e) {
            QMessageBox::warning(this, tr("Import"), QString::fromStdString(e.what()));
        }
    });
    strength_ = new QSlider(Qt::Horizontal);
    strength_->setObjectName(QStringLiteral("conceptStrength"));
    strength_->setRange(0, 150);
    strength_->setValue(100);
    strength_->setToolTip(tr("How strongly the concept applies when its token is in the prompt"));
    connect(strength_, &QSlider::valueChanged, this, [this](int value) {
        if (!store_ || !conceptId_) return;
        atelier::Concept c = store_->concept_by_id(conceptId_);
        QJsonObject settings = QJsonDocument::fromJson(QByteArray::fromStdString(c.training_settings_json)).object();
        settings[QStringLiteral("strength")] = value / 100.0;
        c.training_settings_json = QJsonDocument(settings).toJson(QJsonDocument::Compact).toStdString();
        store_->update_concept(c);
    });
    buttons->addWidget(addImages_);
    buttons->addWidget(train_);
    buttons->addWidget(cancelTrain_);
    buttons->addWidget(exportButton_);
    buttons->addWidget(importButton);
    buttons->addWidget(new QLabel(tr("Strength")));
    buttons->addWidget(strength_, 1);
    trainProgress_ = new QProgressBar;
    trainProgress_->setObjectName(QStringLiteral("trainProgress"));
    trainProgress_->setFormat(QStringLiteral("%v / %m steps"));
    trainStatus_ = new QLabel;
    trainStatus_->setObjectName(QStringLiteral("trainStatus"));
    lossCurve_ = new LineChart;
    lossCurve_->setMaximumHeight(150);
    preview_ = new QListWidget;
    preview_->setObjectName(QStringLiteral("conceptPreview"));
    preview_->setViewMode(QListView::IconMode);
    preview_->setIconSize(QSize(96, 96));
    preview_->setMovement(QListView::Static);
    preview_->setMaximumHeight(260);
    right->addWidget(heading_);
    right->addWidget(details_);
    right->addWidget(images_, 1);
    right->addLayout(buttons);
    right->addWidget(trainProgress_);
    right->addWidget(trainStatus_);
    right->addWidget(lossCurve_);
    right->addWidget(new QLabel(tr("Before / after, same seeds (top: the class word without the concept)")));
    right->addWidget(preview_);
    connect(runner_, &JobRunner::generated, this, [this](quint64 ticket, const QVector<GeneratedImage>& images) {
        if (ticket == beforeTicket_) showPreview(images, false);
        if (ticket == afterTicket_) showPreview(images, true);
    });
    layout->addLayout(right, 1);
    showConcept();
}

void ConceptsPage::setStore(atelier::Store* store, int64_t profileId) {
    store_ = store;
    profileId_ = profileId;
    refresh();
}

void ConceptsPage::refresh() {
    const int64_t keep = conceptId_;
    concepts_->blockSignals(true);
    concepts_->clear();
    if (store_) {
        for (const atelier::Concept& c : store_->list_concepts(profileId_)) {
            auto* item = new QListWidgetItem(QStringLiteral("%1   %2").arg(QString::fromStdString(c.name),
                                                                          QString::fromStdString(c.trigger_token)));
            item->setData(Qt::UserRole, QVariant::fromValue<qlonglong>(c.id));
            concepts_->addItem(item);
            if (c.id == keep) concepts_->setCurrentItem(item);
        }
    }
    concepts_->blockSignals(false);
    if (!concepts_->currentItem() && concepts_->count() > 0) concepts_->setCurrentRow(0);
    conceptId_ = concepts_->currentItem() ? concepts_->currentItem()->data(Qt::UserRole).toLongLong() : 0;
    showConcept();
}

void ConceptsPage::selectConcept(int64_t id) {
    for (int i = 0; i < concepts_->count(); ++i)
        if (concepts_->item(i)->data(Qt::UserRole).toLongLong() == id) concepts_->setCurrentRow(i);
}

QString ConceptsPage::artifactPath(const atelier::Concept& c) const {
    QString slug = QString::fromStdString(c.trigger_token);
    slug.replace(QRegularExpression(QStringLiteral("[^A-Za-z0-9_-]+")), QString());
    const QString dir = QString::fromStdString(store_->data_dir()) + QStringLiteral("/concepts");
    QDir().mkpath(dir);
    return dir + QStringLiteral("/%1-%2-%3.safetensors").arg(c.id).arg(slug, QString::fromStdString(c.method));
}

std::vector<atelier::ConceptSpec> ConceptsPage::conceptsFor(const QString& prompt) const {
    std::vector<atelier::ConceptSpec> specs;
    if (!store_) return specs;
    for (const atelier::Concept& c : store_->list_concepts(profileId_)) {
        if (c.status != "ready" || c.artifact_path.empty()) continue;
        if (!prompt.contains(QString::fromStdString(c.trigger_token))) continue;
        const QJsonObject settings = QJsonDocument::fromJson(QByteArray::fromStdString(c.training_settings_json)).object();
        atelier::ConceptSpec spec;
        spec.path = c.artifact_path;
        spec.token = c.trigger_token;
        spec.strength = float(settings.value(QStringLiteral("strength")).toDouble(1.0));
        specs.push_back(spec);
    }
    return specs;
}

void ConceptsPage::train(int steps) {
    if (!store_ || !conceptId_ || cancel_) return;
    atelier::Concept c = store_->concept_by_id(conceptId_);
    if (c.reference_asset_ids.size() < size_t(kMinImages)) {
        QMessageBox::information(this, tr("Train"), tr("A concept needs at least %1 pictures.").arg(kMinImages));
        return;
    }
    if (!runner_->hasModel()) {
        QMessageBox::information(this, tr("Train"), tr("Open a model first (File > Open model)."));
        return;
    }
    auto request = std::make_shared<atelier::TrainConceptRequest>();
    request->method = c.method;
    request->token = c.trigger_token;
    request->class_word = c.class_word;
    request->steps = steps;
    request->out_path = artifactPath(c).toStdString();
    request->resume = true;  // a cancelled run continues from its checkpoint
    request->lora_text_encoder = QJsonDocument::fromJson(QByteArray::fromStdString(c.training_settings_json))
                                     .object()
                                     .value(QStringLiteral("lora_text_encoder"))
                                     .toBool();
    for (int64_t id : c.reference_asset_ids) request->images.push_back(store_->load_asset(id));
    cancel_ = std::make_shared<atelier::CancelToken>();
    request->cancel = cancel_.get();
    QPointer<ConceptsPage> self(this);
    request->on_progress = [self](const atelier::TrainConceptProgress& p) {
        QMetaObject::invokeMethod(qApp, [self, p] {
            if (!self) return;
            self->trainProgress_->setRange(0, int(p.total));
            self->trainProgress_->setValue(int(p.step));
            self->trainStatus_->setText(tr("loss %1 (average %2) · %3 s left")
                                            .arg(p.loss, 0, 'f', 4).arg(p.loss_avg, 0, 'f', 4).arg(p.eta_seconds, 0, 'f', 0));
            self->losses_.push_back(QPointF(double(p.step), p.loss_avg));
            double top = 0;
            for (const QPointF& q : std::as_const(self->losses_)) top = std::max(top, q.y());
            self->lossCurve_->setPoints(self->losses_, 0, std::max(1e-6, top * 1.1), false, tr("training loss"));
        }, Qt::QueuedConnection);
    };
    c.status = "training";
    store_->update_concept(c);
    losses_.clear();
    train_->setEnabled(false);
    cancelTrain_->setEnabled(true);
    trainStatus_->setText(tr("Training %1…").arg(QString::fromStdString(c.trigger_token)));
    auto result = std::make_shared<atelier::TrainConceptResult>();
    const int64_t id = c.id;
    runner_->runWithModel([request, result](atelier::Model& model) { *result = atelier::train_concept(model, *request); },
                          [this, id, result](const QString& error) {
                              cancel_.reset();
                              train_->setEnabled(true);
                              cancelTrain_->setEnabled(false);
                              atelier::Concept done = store_->concept_by_id(id);
                              if (!error.isEmpty()) {
                                  done.status = "failed";
                                  trainStatus_->setText(error);
                              } else if (result->cancelled) {
                                  done.status = "draft";
                                  trainStatus_->setText(tr("Cancelled: Train continues from step %1.").arg(result->steps));
                              } else {
                                  done.status = "ready";
                                  done.artifact_path = result->artifact_path;
                                  QJsonObject metrics;
                                  metrics[QStringLiteral("steps")] = double(result->steps);
                                  metrics[QStringLiteral("seconds")] = result->seconds;
                                  metrics[QStringLiteral("loss_avg")] = result->loss_avg;
                                  metrics[QStringLiteral("eval_loss_before")] = result->eval_loss_before;
                                  metrics[QStringLiteral("eval_loss_after")] = result->eval_loss_after;
                                  metrics[QStringLiteral("artifact_bytes")] = double(result->artifact_bytes);
                                  done.metrics_json = QJsonDocument(metrics).toJson(QJsonDocument::Compact).toStdString();
                                  trainStatus_->setText(tr("Trained in %1 s: loss on its pictures %2 → %3, file %4 KB")
                                                            .arg(result->seconds, 0, 'f', 0)
                                                            .arg(result->eval_loss_before, 0, 'f', 4)
                                                            .arg(result->eval_loss_after, 0, 'f', 4)
                                                            .arg(result->artifact_bytes / 1024));
                              }
                              store_->update_concept(done);
                              showConcept();
                              Q_EMIT conceptsChanged();
                              Q_EMIT trainingFinished(id, error.isEmpty() && !result->cancelled);
                              if (done.status == "ready") {
                                  // Before / after from fixed seeds.
                                  preview_->clear();
                                  atelier::GenerateRequest before;
                                  before.prompt = "a " + done.class_word;
                                  before.seed = 1;
                                  before.batch = 4;
                                  atelier::GenerateRequest after = before;
                                  after.prompt = "a " + done.trigger_token;
                                  after.concepts = conceptsFor(QString::fromStdString(after.prompt));
                                  beforeTicket_ = runner_->generate(before);
                                  afterTicket_ = runner_->generate(after);
                              }
                          });
}

void ConceptsPage::cancelTraining() {
    if (cancel_) cancel_->cancel();
}

void ConceptsPage::showPreview(const QVector<GeneratedImage>& images, bool personalized) {
    for (const GeneratedImage& g : images) {
        auto* item = new QListWidgetItem(QIcon(QPixmap::fromImage(g.image.scaled(96, 96))),
                                         personalized ? tr("with concept") : tr("without"));
        preview_->addItem(item);
    }
}

QStringList ConceptsPage::triggerTokens() const {
    QStringList tokens;
    if (store_)
        for (const atelier::Concept& c : store_->list_concepts(profileId_)) tokens << QString::fromStdString(c.trigger_token);
    return tokens;
}

int64_t ConceptsPage::createConcept(const QString& name, const QString& token, const QString& classWord,
                                    const QString& method) {
    if (!store_) return 0;
    const QString trimmedToken = token.trimmed();
    if (name.trimmed().isEmpty() || trimmedToken.isEmpty() || classWord.trimmed().isEmpty()) {
        QMessageBox::information(this, tr("New concept"), tr("A concept needs a name, a trigger token and a class word."));
        return 0;
    }
    if (trimmedToken.contains(QLatin1Char(' '))) {
        QMessageBox::information(this, tr("New concept"), tr("The trigger token must be one word, e.g. <my-mug>."));
        return 0;
    }
    for (const QString& existing : triggerTokens()) {
        if (existing.compare(trimmedToken, Qt::CaseInsensitive) == 0) {
            QMessageBox::information(this, tr("New concept"), tr("%1 is already the trigger of another concept.").arg(trimmedToken));
            return 0;
        }
    }
    try {
        atelier::Concept c;
        c.profile_id = profileId_;
        c.name = name.trimmed().toStdString();
        c.trigger_token = trimmedToken.toStdString();
        c.class_word = classWord.trimmed().toStdString();
        c.method = method.toStdString();
        if (method == QStringLiteral("lora") && textEncoder_->isChecked())
            c.training_settings_json = R"({"lora_text_encoder":true})";
        conceptId_ = store_->create_concept(c);
        name_->clear();
        token_->clear();
        classWord_->clear();
        refresh();
        Q_EMIT conceptsChanged();
        return conceptId_;
    } catch (const std::exception& e) {
        QMessageBox::warning(this, tr("New concept"), QString::fromStdString(e.what()));
        return 0;
    }
}

QStringList ConceptsPage::addImages(const QStringList& paths) {
    QStringList problems;
    if (!store_ || !conceptId_) {
        problems << tr("Create or select a concept first.");
        return problems;
    }
    try {
        atelier::Concept c = store_->concept_by_id(conceptId_);
        for (const QString& path : paths) {
            if (int(c.reference_asset_ids.size()) >= kMaxImages) {
                problems << tr("%1: a concept takes at most %2 pictures.").arg(QFileInfo(path).fileName()).arg(kMaxImages);
                continue;
            }
            try {
                const atelier::AssetInfo asset = store_->import_asset(path.toStdString(), "reference");
                if (std::find(c.reference_asset_ids.begin(), c.reference_asset_ids.end(), asset.id) !=
                    c.reference_asset_ids.end()) {
                    problems << tr("%1: the same picture is already in this concept.").arg(QFileInfo(path).fileName());
                    continue;
                }
                c.reference_asset_ids.push_back(asset.id);
            } catch (const std::exception& e) {
                problems << QString::fromStdString(e.what());
            }
        }
        store_->update_concept(c);
    } catch (const std::exception& e) {
        problems << QString::fromStdString(e.what());
    }
    showConcept();
    Q_EMIT conceptsChanged();
    return problems;
}

void ConceptsPage::showProblems(const QStringList& problems) {
    if (!problems.isEmpty()) QMessageBox::warning(this, tr("Some pictures were not added"), problems.join(QLatin1Char('\n')));
}

void ConceptsPage::showConcept() {
    images_->clear();
    const bool has = store_ && conceptId_;
    addImages_->setEnabled(has);
    train_->setEnabled(has && !cancel_);
    exportButton_->setEnabled(false);
    if (!has) {
        heading_->setText(tr("No concept selected"));
        details_->setText(tr("Create a concept on the left, then drop 3–20 pictures of it here."));
        return;
    }
    try {
        const atelier::Concept c = store_->concept_by_id(conceptId_);
        heading_->setText(QStringLiteral("%1  %2").arg(QString::fromStdString(c.name), QString::fromStdString(c.trigger_token)));
        exportButton_->setEnabled(!c.artifact_path.empty());
        const QJsonObject settings = QJsonDocument::fromJson(QByteArray::fromStdString(c.training_settings_json)).object();
        strength_->blockSignals(true);
        strength_->setValue(int(settings.value(QStringLiteral("strength")).toDouble(1.0) * 100));
        strength_->blockSignals(false);
        const int count = int(c.reference_asset_ids.size());
        QString advice = count < kMinImages ? tr("Add at least %1 more picture(s).").arg(kMinImages - count)
                         : c.status == "ready"  ? tr("Trained: write %1 in a prompt.").arg(QString::fromStdString(c.trigger_token))
                                                : tr("Ready to train.");
        details_->setText(tr("Class word: %1 · Method: %2 · Status: %3 · %4 picture(s). %5")
                              .arg(QString::fromStdString(c.class_word),
                                   methodLabel(c.method) + (settings.value(QStringLiteral("lora_text_encoder")).toBool()
                                                                ? tr(" + text encoder") : QString()),
                                   QString::fromStdString(c.status))
                              .arg(count)
                              .arg(advice));
        for (int64_t assetId : c.reference_asset_ids) {
            const atelier::AssetInfo info = store_->asset(assetId);
            auto* item = new QListWidgetItem(QIcon(QPixmap::fromImage(toQImage(store_->load_thumbnail(assetId)))),
                                             QStringLiteral("%1×%2").arg(info.width).arg(info.height));
            item->setToolTip(QString::fromStdString(info.source_name));
            images_->addItem(item);
        }
    } catch (const std::exception& e) {
        details_->setText(QString::fromStdString(e.what()));
    }
}

void ConceptsPage::dragEnterEvent(QDragEnterEvent* event) {
    if (event->mimeData()->hasUrls()) event->acceptProposedAction();
}

void ConceptsPage::dropEvent(QDropEvent* event) {
    QStringList paths;
    for (const QUrl& url : event->mimeData()->urls()) paths << url.toLocalFile();
    showProblems(addImages(paths));
    event->acceptProposedAction();
}

#include "moc_ConceptsPage.cpp"
