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
#include <QInputDialog>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QMessageBox>
#include <QMenu>
#include <QMimeData>
#include <QPushButton>
#include <QRegularExpression>
#include <QShortcut>
#include <QStyledItemDelegate>
#include <QVBoxLayout>

#include "Charts.h"
#include "SettingsDialog.h"
#include "ImageConvert.h"
#include "atelier/concepts.h"

namespace {
constexpr int kMaxImages = 20;
constexpr int kMinImages = 3;

constexpr int kAssetRole = Qt::UserRole;
constexpr int kCaptionRole = Qt::UserRole + 1;

QJsonObject settingsOf(const atelier::Concept& c) {
    return QJsonDocument::fromJson(QByteArray::fromStdString(c.training_settings_json)).object();
}

// Captions are whitespace-simplified on the way in: a line edit holds one line.
QString cleanCaption(const QString& text) { return text.simplified(); }

// The concept's rule for a caption (the engine's, shared with the CLI's PICTURE.txt); empty when it holds.
QString captionProblem(const QString& caption, const atelier::Concept& c) {
    try {
        atelier::concept_caption(caption.toStdString(), c.trigger_token);
        return {};
    } catch (const std::exception& e) {
        return QString::fromStdString(e.what());
    }
}

// In-place caption editing: the editor opens on the caption (not the "no caption" placeholder shown),
// and a finished edit goes to the page, which validates and stores it.
class CaptionDelegate : public QStyledItemDelegate {
public:
    CaptionDelegate(std::function<void(int64_t, const QString&)> edited, QObject* parent)
        : QStyledItemDelegate(parent), edited_(std::move(edited)) {}
    void setEditorData(QWidget* editor, const QModelIndex& index) const override {
        if (auto* line = qobject_cast<QLineEdit*>(editor)) line->setText(index.data(kCaptionRole).toString());
        else QStyledItemDelegate::setEditorData(editor, index);
    }
    void setModelData(QWidget* editor, QAbstractItemModel*, const QModelIndex& index) const override {
        if (auto* line = qobject_cast<QLineEdit*>(editor)) edited_(index.data(kAssetRole).toLongLong(), line->text());
    }
    void updateEditorGeometry(QWidget* editor, const QStyleOptionViewItem& option, const QModelIndex&) const override {
        // The whole width of the cell under the thumbnail, not just the placeholder's text.
        const int height = editor->sizeHint().height();
        editor->setGeometry(option.rect.left(), option.rect.bottom() - height + 1, option.rect.width(), height);
    }

private:
    std::function<void(int64_t, const QString&)> edited_;
};

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
    auto askToDelete = [this] {
        if (!store_ || !conceptId_) return;
        const atelier::Concept c = store_->concept_by_id(conceptId_);
        if (QMessageBox::question(this, tr("Delete concept"),
                                  tr("Delete \u201c%1\u201d (%2) and the file trained for it?")
                                      .arg(QString::fromStdString(c.name), QString::fromStdString(c.trigger_token))) ==
            QMessageBox::Yes)
            deleteConcept(c.id);
    };
    concepts_->setContextMenuPolicy(Qt::CustomContextMenu);
    connect(concepts_, &QWidget::customContextMenuRequested, this, [this, askToDelete](const QPoint& at) {
        if (!concepts_->itemAt(at)) return;
        QMenu menu;
        menu.addAction(tr("Delete concept…"), askToDelete);
        menu.exec(concepts_->viewport()->mapToGlobal(at));
    });
    auto* deleteKey = new QShortcut(QKeySequence::Delete, concepts_);
    deleteKey->setContext(Qt::WidgetShortcut);
    connect(deleteKey, &QShortcut::activated, this, askToDelete);
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
    form->addRow(QString(), textEncoder_);
    convolutions_ = new QCheckBox(tr("Also adapt the convolutions (LoCon)"));
    convolutions_->setObjectName(QStringLiteral("conceptConvolutions"));
    convolutions_->setChecked(true);
    convolutions_->setToolTip(tr("LoRA: adapters on the UNet's resnet convolutions too (kohya LoCon keys), where "
                                 "outlines are drawn: a new shape is learnt about three times as often on the "
                                 "embedded model. Off: the classic attention-only LoRA."));
    form->addRow(QString(), convolutions_);
    auto loraOptions = [this] {
        const bool lora = method_->currentData().toString() == QStringLiteral("lora");
        textEncoder_->setEnabled(lora);
        convolutions_->setEnabled(lora);
    };
    connect(method_, &QComboBox::currentIndexChanged, this, loraOptions);
    // LoRA first: on the embedded model it is the method that learns a new shape (bench_concepts: 64 % of
    // pictures against 12 % with textual inversion).
    method_->setCurrentIndex(method_->findData(QStringLiteral("lora")));
    loraOptions();
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
    images_->setGridSize(QSize(196, 232));
    images_->setWordWrap(true);
    images_->setTextElideMode(Qt::ElideRight);
    images_->setEditTriggers(QAbstractItemView::DoubleClicked | QAbstractItemView::EditKeyPressed);
    images_->setItemDelegate(new CaptionDelegate(
        [this](int64_t assetId, const QString& text) {
            const QString problem = setCaption(assetId, text);
            if (!problem.isEmpty()) {
                captionHint_->setText(problem);
                captionHint_->setStyleSheet(QStringLiteral("color: #e0604c;"));
                Q_EMIT statusMessage(problem);
            }
        },
        images_));
    captionHint_ = new QLabel;
    captionHint_->setObjectName(QStringLiteral("captionHint"));
    captionHint_->setTextFormat(Qt::PlainText);  // a token like <my-mug> is not a tag
    captionHint_->setWordWrap(true);
    auto* buttons = new QHBoxLayout;
    addImages_ = new QPushButton(tr("Add pictures…"));
    connect(addImages_, &QPushButton::clicked, this, [this] {
        const QStringList files = QFileDialog::getOpenFileNames(this, tr("Pictures of the concept"), QString(),
                                                                tr("Images (*.png *.jpg *.jpeg *.bmp *.gif *.tga)"));
        if (!files.isEmpty()) showProblems(addImages(files));
    });
    captionButton_ = new QPushButton(tr("Caption…"));
    captionButton_->setObjectName(QStringLiteral("captionPicture"));
    captionButton_->setToolTip(tr("Caption the selected picture (or double-click it, or F2)"));
    captionButton_->setEnabled(false);
    connect(captionButton_, &QPushButton::clicked, this, &ConceptsPage::editCaption);
    connect(images_, &QListWidget::currentItemChanged, this,
            [this](QListWidgetItem* current) { captionButton_->setEnabled(current != nullptr); });
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
        QJsonObject settings = settingsOf(c);
        settings[QStringLiteral("strength")] = value / 100.0;
        c.training_settings_json = QJsonDocument(settings).toJson(QJsonDocument::Compact).toStdString();
        store_->update_concept(c);
    });
    buttons->addWidget(addImages_);
    buttons->addWidget(captionButton_);
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
    lossCurve_->setYAxis(LineChart::YAxis::Number);  // a loss, not a fraction
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
    right->addWidget(captionHint_);
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

bool ConceptsPage::deleteConcept(int64_t id) {
    if (!store_) return false;
    if (isTraining()) {
        Q_EMIT statusMessage(tr("A concept is training: cancel it or let it finish before deleting one."));
        return false;
    }
    try {
        const std::string name = store_->concept_by_id(id).name;
        store_->delete_concept(id);
        Q_EMIT statusMessage(tr("Deleted concept %1").arg(QString::fromStdString(name)));
    } catch (const std::exception& e) {
        QMessageBox::warning(this, tr("Delete concept"), QString::fromStdString(e.what()));
        return false;
    }
    if (conceptId_ == id) conceptId_ = 0;
    refresh();
    Q_EMIT conceptsChanged();
    return true;
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
    auto request = std::make_shared<atelier::TrainConceptRequest>();
    QString problem;
    if (!buildTrainRequest(*request, problem)) {
        trainStatus_->setText(problem);
        QMessageBox::information(this, tr("Train"), problem);
        return;
    }
    if (!runner_->hasModel()) {
        QMessageBox::information(this, tr("Train"), tr("Open a model first (File > Open model)."));
        return;
    }
    atelier::Concept c = store_->concept_by_id(conceptId_);
    request->steps = steps;
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

bool ConceptsPage::buildTrainRequest(atelier::TrainConceptRequest& request, QString& problem) const {
    if (!store_ || !conceptId_) {
        problem = tr("Create or select a concept first.");
        return false;
    }
    try {
        const atelier::Concept c = store_->concept_by_id(conceptId_);
        const int count = int(c.reference_asset_ids.size());
        if (count < kMinImages) {
            problem = tr("A concept needs at least %1 pictures.").arg(kMinImages);
            return false;
        }
        const QJsonObject settings = settingsOf(c);
        const QJsonObject captions = settings.value(QStringLiteral("captions")).toObject();
        std::vector<std::string> texts;
        int missing = 0;
        for (int64_t id : c.reference_asset_ids) {
            const QString text = cleanCaption(captions.value(QString::number(id)).toString());
            if (text.isEmpty()) {
                ++missing;
                continue;
            }
            texts.push_back(atelier::concept_caption(text.toStdString(), c.trigger_token));
        }
        // The CLI's rule: a caption for every picture or for none.
        if (!texts.empty() && missing > 0) {
            problem = (missing == 1 ? tr("%1 of %2 pictures has no caption.") : tr("%1 of %2 pictures have no caption."))
                          .arg(missing)
                          .arg(count) +
                      QLatin1Char(' ') + tr("Caption every picture, or none, to train.");
            return false;
        }
        request.method = c.method;
        request.token = c.trigger_token;
        request.class_word = c.class_word;
        request.out_path = artifactPath(c).toStdString();
        request.resume = true;  // a cancelled run continues from its checkpoint
        request.lora_text_encoder = settings.value(QStringLiteral("lora_text_encoder")).toBool();
        request.lora_convolutions = settings.value(QStringLiteral("lora_convolutions")).toBool(request.lora_convolutions);
        request.gradient_checkpointing = StudioSettings::load().trainingSavesMemory;
        request.images.clear();
        for (int64_t id : c.reference_asset_ids) request.images.push_back(store_->load_asset(id));
        request.captions = std::move(texts);
        request.flip = request.captions.empty();  // a mirror would contradict a caption's left / right
        return true;
    } catch (const std::exception& e) {
        problem = QString::fromStdString(e.what());
        return false;
    }
}

QString ConceptsPage::caption(int64_t assetId) const {
    if (!store_ || !conceptId_) return {};
    try {
        const QJsonObject captions = settingsOf(store_->concept_by_id(conceptId_)).value(QStringLiteral("captions")).toObject();
        return captions.value(QString::number(assetId)).toString();
    } catch (const std::exception&) {
        return {};
    }
}

QString ConceptsPage::setCaption(int64_t assetId, const QString& text) {
    if (!store_ || !conceptId_) return tr("Create or select a concept first.");
    try {
        atelier::Concept c = store_->concept_by_id(conceptId_);
        if (std::find(c.reference_asset_ids.begin(), c.reference_asset_ids.end(), assetId) == c.reference_asset_ids.end())
            return tr("That picture is not in this concept.");
        const QString clean = cleanCaption(text);
        if (!clean.isEmpty()) {
            if (const QString problem = captionProblem(clean, c); !problem.isEmpty()) return problem;
        }
        QJsonObject settings = settingsOf(c);
        QJsonObject captions = settings.value(QStringLiteral("captions")).toObject();
        if (clean.isEmpty()) captions.remove(QString::number(assetId));
        else captions[QString::number(assetId)] = clean;
        if (captions.isEmpty()) settings.remove(QStringLiteral("captions"));
        else settings[QStringLiteral("captions")] = captions;
        c.training_settings_json = QJsonDocument(settings).toJson(QJsonDocument::Compact).toStdString();
        store_->update_concept(c);
        // Show it in place: the list keeps its selection and scroll position.
        for (int i = 0; i < images_->count(); ++i)
            if (images_->item(i)->data(kAssetRole).toLongLong() == assetId) showCaption(images_->item(i), clean);
        showConcept(false);
        return {};
    } catch (const std::exception& e) {
        return QString::fromStdString(e.what());
    }
}

void ConceptsPage::showCaption(QListWidgetItem* item, const QString& caption) {
    item->setData(kCaptionRole, caption);
    item->setText(caption.isEmpty() ? tr("no caption") : caption);
    QFont font = images_->font();
    font.setItalic(caption.isEmpty());
    item->setFont(font);
    item->setForeground(caption.isEmpty() ? images_->palette().brush(QPalette::PlaceholderText)
                                          : images_->palette().brush(QPalette::Text));
}

void ConceptsPage::editCaption() {
    QListWidgetItem* item = images_->currentItem();
    if (!item || !store_ || !conceptId_) return;
    const int64_t assetId = item->data(kAssetRole).toLongLong();
    const QString token = QString::fromStdString(store_->concept_by_id(conceptId_).trigger_token);
    QString text = item->data(kCaptionRole).toString();
    for (;;) {
        bool ok = false;
        text = QInputDialog::getText(this, tr("Caption"),
                                     tr("What this picture shows besides the concept; write the concept as {} or %1, "
                                        "e.g. “a {} on a striped blue background”. Empty: no caption.")
                                         .arg(token),
                                     QLineEdit::Normal, text, &ok);
        if (!ok) return;
        const QString problem = setCaption(assetId, text);
        if (problem.isEmpty()) return;
        QMessageBox::warning(this, tr("Caption"), problem);
    }
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
        if (method == QStringLiteral("lora")) {
            QJsonObject training;
            if (textEncoder_->isChecked()) training.insert(QStringLiteral("lora_text_encoder"), true);
            training.insert(QStringLiteral("lora_convolutions"), convolutions_->isChecked());
            c.training_settings_json = QJsonDocument(training).toJson(QJsonDocument::Compact).toStdString();
        }
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
        QJsonObject settings = settingsOf(c);
        QJsonObject captions = settings.value(QStringLiteral("captions")).toObject();
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
                // A kohya-style caption beside the picture (PICTURE.txt), as the CLI reads them.
                const QFileInfo picture(path);
                QFile txt(picture.dir().filePath(picture.completeBaseName() + QStringLiteral(".txt")));
                if (txt.exists()) {
                    if (!txt.open(QIODevice::ReadOnly | QIODevice::Text)) {
                        problems << tr("%1: could not read it; the picture has no caption.").arg(QFileInfo(txt).fileName());
                        continue;
                    }
                    const QString text = cleanCaption(QString::fromUtf8(txt.readAll()));
                    if (text.isEmpty()) continue;
                    if (const QString problem = captionProblem(text, c); !problem.isEmpty())
                        problems << tr("%1: %2; the picture has no caption.").arg(QFileInfo(txt).fileName(), problem);
                    else
                        captions[QString::number(asset.id)] = text;
                }
            } catch (const std::exception& e) {
                problems << QString::fromStdString(e.what());
            }
        }
        if (!captions.isEmpty()) settings[QStringLiteral("captions")] = captions;
        c.training_settings_json = QJsonDocument(settings).toJson(QJsonDocument::Compact).toStdString();
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

void ConceptsPage::showConcept(bool pictures) {
    if (pictures) images_->clear();
    const bool has = store_ && conceptId_;
    addImages_->setEnabled(has);
    captionButton_->setEnabled(has && images_->currentItem() != nullptr);
    captionHint_->setStyleSheet(QString());
    captionHint_->clear();
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
        const QJsonObject settings = settingsOf(c);
        strength_->blockSignals(true);
        strength_->setValue(int(settings.value(QStringLiteral("strength")).toDouble(1.0) * 100));
        strength_->blockSignals(false);
        const QJsonObject captions = settings.value(QStringLiteral("captions")).toObject();
        const int count = int(c.reference_asset_ids.size());
        int captioned = 0;
        for (int64_t assetId : c.reference_asset_ids)
            if (!cleanCaption(captions.value(QString::number(assetId)).toString()).isEmpty()) ++captioned;
        const QString token = QString::fromStdString(c.trigger_token);
        QString advice = count < kMinImages ? tr("Add at least %1 more picture(s).").arg(kMinImages - count)
                         : captioned > 0 && captioned < count
                             ? tr("Caption the other %1 picture(s), or none, to train.").arg(count - captioned)
                         : c.status == "ready" ? tr("Trained: write %1 in a prompt.").arg(token)
                                               : tr("Ready to train.");
        details_->setText(tr("Class word: %1 · Method: %2 · Status: %3 · %4 picture(s), %5 captioned. %6")
                              .arg(QString::fromStdString(c.class_word),
                                   methodLabel(c.method) +
                                       (c.method == "lora" && settings.value(QStringLiteral("lora_convolutions")).toBool(true)
                                            ? tr(" + convolutions") : QString()) +
                                       (settings.value(QStringLiteral("lora_text_encoder")).toBool() ? tr(" + text encoder")
                                                                                                      : QString()),
                                   QString::fromStdString(c.status))
                              .arg(count)
                              .arg(captioned)
                              .arg(advice));
        captionHint_->setText(tr("Captions (optional): double-click a picture (or F2) and say what it shows besides the "
                                 "concept, writing the concept as {} or %1, e.g. “a {} on a striped blue background”. "
                                 "What a caption names stays out of the concept; caption every picture or none.")
                                  .arg(token));
        if (pictures) {
            for (int64_t assetId : c.reference_asset_ids) {
                const atelier::AssetInfo info = store_->asset(assetId);
                auto* item = new QListWidgetItem(QIcon(QPixmap::fromImage(toQImage(store_->load_thumbnail(assetId)))), QString());
                item->setData(kAssetRole, QVariant::fromValue<qlonglong>(assetId));
                item->setFlags(Qt::ItemIsSelectable | Qt::ItemIsEnabled | Qt::ItemIsEditable);
                item->setToolTip(QStringLiteral("%1 · %2×%3").arg(QString::fromStdString(info.source_name)).arg(info.width).arg(info.height));
                images_->addItem(item);
                showCaption(item, cleanCaption(captions.value(QString::number(assetId)).toString()));
            }
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
