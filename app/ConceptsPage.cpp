#include "ConceptsPage.h"

#include <QComboBox>
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

#include "ImageConvert.h"

namespace {
constexpr int kMaxImages = 20;
constexpr int kMinImages = 3;

QString methodLabel(const std::string& method) {
    if (method == "lora") return QObject::tr("LoRA");
    if (method == "rank1") return QObject::tr("Key-locked rank-1 edit");
    return QObject::tr("Textual inversion");
}
}  // namespace

ConceptsPage::ConceptsPage(QWidget* parent) : QWidget(parent) {
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
    train_->setEnabled(false);
    train_->setToolTip(tr("Concept training is not available in this build yet."));
    buttons->addWidget(addImages_);
    buttons->addWidget(train_);
    buttons->addStretch(1);
    right->addWidget(heading_);
    right->addWidget(details_);
    right->addWidget(images_, 1);
    right->addLayout(buttons);
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
    if (!has) {
        heading_->setText(tr("No concept selected"));
        details_->setText(tr("Create a concept on the left, then drop 3–20 pictures of it here."));
        return;
    }
    try {
        const atelier::Concept c = store_->concept_by_id(conceptId_);
        heading_->setText(QStringLiteral("%1  %2").arg(QString::fromStdString(c.name), QString::fromStdString(c.trigger_token)));
        const int count = int(c.reference_asset_ids.size());
        QString advice = count < kMinImages ? tr("Add at least %1 more picture(s).").arg(kMinImages - count)
                                            : tr("Ready to train.");
        details_->setText(tr("Class word: %1 · Method: %2 · Status: %3 · %4 picture(s). %5")
                              .arg(QString::fromStdString(c.class_word), methodLabel(c.method),
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
