#include "ComparePage.h"
#include "SettingsDialog.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDateTime>
#include <QDir>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QFileInfo>
#include <QMenu>
#include <QMessageBox>
#include <QProgressBar>
#include <QPushButton>
#include <QShortcut>
#include <QTimer>
#include <QVBoxLayout>
#include <cmath>

#include "ImagePane.h"
#include "ImageConvert.h"

namespace {
const char* strengthName(int strength) {
    switch (strength) {
        case 1: return "slight";
        case 2: return "clear";
        case 3: return "strong";
        default: return "not given";
    }
}
}  // namespace

ComparePage::ComparePage(QWidget* parent) : QWidget(parent) {
    setFocusPolicy(Qt::StrongFocus);
    auto* layout = new QVBoxLayout(this);

    auto* top = new QHBoxLayout;
    queueBox_ = new QComboBox;
    queueBox_->setObjectName(QStringLiteral("queueBox"));
    queueBox_->setMinimumWidth(260);
    queueBox_->setFocusPolicy(Qt::ClickFocus);
    connect(queueBox_, qOverload<int>(&QComboBox::activated), this,
            [this](int index) { selectQueue(queueBox_->itemData(index).toLongLong()); });
    auto* importButton = new QPushButton(tr("Import…"));
    importButton->setFocusPolicy(Qt::ClickFocus);
    auto* importMenu = new QMenu(importButton);
    importMenu->addAction(tr("Folder of images (consecutive files form a pair)…"), this, [this] {
        const QString folder = QFileDialog::getExistingDirectory(this, tr("Folder of images to pair"));
        if (!folder.isEmpty()) importFolder(folder);
    });
    importMenu->addAction(tr("Bundle, Pick-a-Pic or Label Studio file…"), this, [this] {
        const QString path = QFileDialog::getOpenFileName(this, tr("Judgements to import"), QString(),
                                                          tr("Judgements (*.tar *.jsonl *.csv *.json)"));
        QStringList issues;
        if (!path.isEmpty() && !importFile(path, &issues))
            QMessageBox::warning(this, tr("Nothing was imported"), issues.join(QLatin1Char('\n')));
    });
    importButton->setMenu(importMenu);
    auto* exportButton = new QPushButton(tr("Export…"));
    exportButton->setFocusPolicy(Qt::ClickFocus);
    connect(exportButton, &QPushButton::clicked, this, &ComparePage::exportQueue);
    top->addWidget(new QLabel(tr("Queue")));
    top->addWidget(queueBox_);
    top->addWidget(importButton);
    top->addWidget(exportButton);
    learnToggle_ = new QCheckBox(tr("Learn my taste"));
    learnToggle_->setObjectName(QStringLiteral("learnTasteToggle"));
    learnToggle_->setFocusPolicy(Qt::ClickFocus);
    learnToggle_->setToolTip(tr("Ask the pairs of this queue's pictures that teach your taste model most, "
                                "instead of the queue's order"));
    connect(learnToggle_, &QCheckBox::toggled, this, &ComparePage::setLearnMode);
    top->addWidget(learnToggle_);
    top->addStretch(1);
    progressLabel_ = new QLabel;
    progressLabel_->setObjectName(QStringLiteral("progressLabel"));
    top->addWidget(progressLabel_);
    layout->addLayout(top);

    progress_ = new QProgressBar;
    progress_->setTextVisible(false);
    progress_->setMaximumHeight(6);
    layout->addWidget(progress_);

    prompt_ = new QLabel;
    prompt_->setObjectName(QStringLiteral("pairPrompt"));
    prompt_->setAlignment(Qt::AlignCenter);
    prompt_->setWordWrap(true);
    prompt_->setStyleSheet(QStringLiteral("font-size: 17px; padding: 6px;"));
    layout->addWidget(prompt_);

    auto* pair = new QHBoxLayout;
    left_ = new ImagePane(tr("A  ←"));
    right_ = new ImagePane(tr("B  →"));
    pair->addWidget(left_, 1);
    pair->addWidget(right_, 1);
    layout->addLayout(pair, 1);

    auto* bottom = new QHBoxLayout;
    strengthLabel_ = new QLabel;
    strengthLabel_->setObjectName(QStringLiteral("strengthLabel"));
    rationale_ = new QLineEdit;
    rationale_->setObjectName(QStringLiteral("rationale"));
    rationale_->setPlaceholderText(tr("R: why? (optional, Enter to return)"));
    connect(rationale_, &QLineEdit::returnPressed, this, [this] { setFocus(); });
    bottom->addWidget(strengthLabel_);
    bottom->addWidget(rationale_, 1);
    layout->addLayout(bottom);

    auto* keys = new QLabel(tr("← / A: A is better    → / L: B is better    ↑ / T: tie    ↓ / S: skip    "
                               "1 2 3: strength    R: rationale    Ctrl+Z: undo"));
    keys->setAlignment(Qt::AlignCenter);
    keys->setStyleSheet(QStringLiteral("color: palette(mid);"));
    layout->addWidget(keys);
    agreementLabel_ = new QLabel;
    agreementLabel_->setObjectName(QStringLiteral("agreementLabel"));
    agreementLabel_->setAlignment(Qt::AlignCenter);
    layout->addWidget(agreementLabel_);

    auto bind = [this](QKeySequence key, auto&& action) {
        auto* shortcut = new QShortcut(key, this);
        shortcut->setContext(Qt::WidgetWithChildrenShortcut);
        connect(shortcut, &QShortcut::activated, this, action);
    };
    using atelier::Choice;
    for (auto key : {Qt::Key_Left, Qt::Key_A}) bind(QKeySequence(key), [this] { choose(Choice::left); });
    for (auto key : {Qt::Key_Right, Qt::Key_L}) bind(QKeySequence(key), [this] { choose(Choice::right); });
    for (auto key : {Qt::Key_Up, Qt::Key_T}) bind(QKeySequence(key), [this] { choose(Choice::tie); });
    for (auto key : {Qt::Key_Down, Qt::Key_S}) bind(QKeySequence(key), [this] { choose(Choice::skip); });
    for (int s = 1; s <= 3; ++s) bind(QKeySequence(Qt::Key(Qt::Key_0 + s)), [this, s] { setStrength(s); });
    bind(QKeySequence(Qt::Key_R), [this] { rationale_->setFocus(); });
    bind(QKeySequence::Undo, [this] { undo(); });
    setStrength(0);
}

void ComparePage::setStore(atelier::Store* store, int64_t annotatorId) {
    store_ = store;
    annotatorId_ = annotatorId;
    featureCache_.reset();
    refreshQueues();
}

void ComparePage::setLearnMode(bool on) {
    if (learnToggle_->isChecked() != on) learnToggle_->setChecked(on);  // comes back here through toggled
    if (learnMode_ == on) return;
    learnMode_ = on;
    showNextPair();
}

void ComparePage::refreshQueues() {
    queueBox_->clear();
    if (!store_) return;
    for (const atelier::QueueInfo& queue : store_->list_queues()) {
        queueBox_->addItem(QStringLiteral("%1  (%2 pairs)").arg(QString::fromStdString(queue.name)).arg(queue.total_items),
                           QVariant::fromValue<qlonglong>(queue.id));
    }
    const int index = queueBox_->findData(QVariant::fromValue<qlonglong>(queueId_));
    if (index >= 0) {
        queueBox_->setCurrentIndex(index);
    } else if (queueBox_->count() > 0) {
        selectQueue(queueBox_->itemData(queueBox_->count() - 1).toLongLong());
    } else {
        queueId_ = 0;
        showNextPair();
    }
}

void ComparePage::selectQueue(int64_t queueId) {
    queueId_ = queueId;
    const int index = queueBox_->findData(QVariant::fromValue<qlonglong>(queueId));
    if (index >= 0 && queueBox_->currentIndex() != index) queueBox_->setCurrentIndex(index);
    showNextPair();
}

QImage ComparePage::assetImage(int64_t assetId) {
    auto found = decoded_.find(assetId);
    if (found != decoded_.end()) return *found;
    QImage image;
    try {
        image = toQImage(store_->load_asset(assetId));
    } catch (const std::exception& e) {
        Q_EMIT statusMessage(QString::fromStdString(e.what()));
    }
    if (decoded_.size() > 256) decoded_.clear();
    decoded_.insert(assetId, image);
    return image;
}

void ComparePage::showNextPair() {
    pair_.reset();
    QString learnText;
    if (store_ && queueId_ && annotatorId_) {
        try {
            if (learnMode_) {
                if (!features_) features_ = atelier::taste::make_feature_extractor(tasteFeatureSet());
                if (!featureCache_) featureCache_ = std::make_unique<atelier::taste::AssetFeatureCache>(*store_, *features_);
                atelier::taste::PairChoiceOptions options;
                options.seed = uint64_t(annotatorId_);
                const auto next = atelier::taste::next_pair_to_learn(*store_, annotatorId_, store_->queue_assets(queueId_),
                                                                     *featureCache_, options);
                if (next) {
                    atelier::QueuePair p;  // outside the queue: no item, the model's own pairing
                    p.left_asset_id = next->left_asset_id;
                    p.right_asset_id = next->right_asset_id;
                    pair_ = p;
                    learnText = tr("Learn my taste: which do you prefer?  (%1 choices so far · this answer is worth "
                                   "%2 nats%3)")
                                    .arg(next->labels)
                                    .arg(next->score, 0, 'f', 2)
                                    .arg(next->explored ? tr(", an exploration pick") : QString());
                }
            } else {
                pair_ = store_->next_pair(queueId_, annotatorId_);
            }
        } catch (const std::exception& e) {
            QMessageBox::warning(this, tr("Compare"), QString::fromStdString(e.what()));
        }
    }
    left_->setHighlight({});
    right_->setHighlight({});
    if (pair_) {
        prompt_->setText(learnMode_ ? learnText : QString::fromStdString(pair_->prompt));
        left_->setImage(assetImage(pair_->left_asset_id));
        right_->setImage(assetImage(pair_->right_asset_id));
    } else {
        prompt_->setText(!queueId_    ? tr("No queue yet: send images from Generate, or import a folder.")
                         : learnMode_ ? tr("Every pair of this queue's pictures has been judged.")
                                      : tr("This queue is done for you. Thank you!"));
        left_->setImage({});
        right_->setImage({});
    }
    shownFor_.restart();
    updateStats();
    // Decode the next pairs' images once this one is on screen, so that the next switch is instant.
    QTimer::singleShot(0, this, [this] {
        if (!store_ || !queueId_ || !annotatorId_ || learnMode_) return;
        try {
            for (const atelier::QueuePair& next : store_->upcoming_pairs(queueId_, annotatorId_, 2)) {
                assetImage(next.left_asset_id);
                assetImage(next.right_asset_id);
            }
        } catch (const std::exception&) {
            // Prefetching is best effort; showNextPair() reports real errors.
        }
    });
}

void ComparePage::setStrength(int strength) {
    strength_ = strength;
    strengthLabel_->setText(tr("Strength: <b>%1</b>").arg(tr(strengthName(strength))));
}

void ComparePage::flash(atelier::Choice choice) {
    const QColor chosen(80, 200, 120), tie(230, 190, 60);
    if (choice == atelier::Choice::left) left_->setHighlight(chosen);
    if (choice == atelier::Choice::right) right_->setHighlight(chosen);
    if (choice == atelier::Choice::tie) {
        left_->setHighlight(tie);
        right_->setHighlight(tie);
    }
    left_->repaint();
    right_->repaint();
}

void ComparePage::choose(atelier::Choice choice) {
    if (!store_ || !pair_) return;
    atelier::Judgement judgement;
    judgement.annotator_id = annotatorId_;
    judgement.queue_id = pair_->queue_id;
    judgement.queue_item_id = pair_->item_id;
    judgement.left_asset_id = pair_->left_asset_id;
    judgement.right_asset_id = pair_->right_asset_id;
    judgement.prompt = pair_->prompt;
    judgement.choice = choice;
    judgement.strength = (choice == atelier::Choice::left || choice == atelier::Choice::right) ? strength_ : 0;
    judgement.rationale = rationale_->text().trimmed().toStdString();
    judgement.decision_ms = shownFor_.elapsed();
    if (learnMode_) judgement.session = "learn my taste";
    try {
        const int64_t id = store_->record_judgement(judgement);  // durable before the next pair appears
        flash(choice);
        rationale_->clear();
        setStrength(0);
        Q_EMIT judgementRecorded(id);
        showNextPair();
    } catch (const std::exception& e) {
        QMessageBox::warning(this, tr("The decision was not saved"), QString::fromStdString(e.what()));
    }
}

void ComparePage::undo() {
    if (!store_ || !queueId_) return;
    try {
        const auto undone = store_->undo_last_judgement(annotatorId_, learnMode_ ? 0 : queueId_);
        if (!undone) {
            Q_EMIT statusMessage(tr("Nothing to undo"));
            return;
        }
        Q_EMIT statusMessage(undone->prompt.empty()
                                 ? tr("Undid the last decision")
                                 : tr("Undid the decision on \"%1\"").arg(QString::fromStdString(undone->prompt)));
        showNextPair();
    } catch (const std::exception& e) {
        QMessageBox::warning(this, tr("Undo failed"), QString::fromStdString(e.what()));
    }
}

void ComparePage::updateStats() {
    if (!store_ || !queueId_) {
        progressLabel_->clear();
        agreementLabel_->clear();
        progress_->setRange(0, 1);
        progress_->setValue(0);
        return;
    }
    const atelier::QueueProgress mine = store_->queue_progress(queueId_, annotatorId_);
    const atelier::QueueProgress all = store_->queue_progress(queueId_);
    const int64_t judged = mine.total_items - mine.remaining_for_annotator;
    progressLabel_->setText(tr("%1 / %2 judged · %3 per minute")
                                .arg(judged)
                                .arg(mine.total_items)
                                .arg(mine.judgements_per_minute, 0, 'f', 1));
    progress_->setRange(0, int(std::max<int64_t>(1, mine.total_items)));
    progress_->setValue(int(judged));
    const atelier::AgreementStats stats = store_->agreement(queueId_);
    if (stats.items > 0 && !std::isnan(stats.alpha_choice)) {
        agreementLabel_->setText(tr("Agreement over %1 overlapping pairs: Krippendorff's α = %2 · queue done %3 / %4")
                                     .arg(stats.items)
                                     .arg(stats.alpha_choice, 0, 'f', 2)
                                     .arg(all.done_items)
                                     .arg(all.total_items));
    } else {
        agreementLabel_->setText(tr("Queue done %1 / %2").arg(all.done_items).arg(all.total_items));
    }
}

int64_t ComparePage::createQueueFromImages(const QString& name, const QVector<QImage>& images, const QString& prompt) {
    if (!store_ || images.size() < 2) return 0;
    try {
        std::vector<int64_t> ids;
        for (const QImage& image : images) ids.push_back(store_->import_asset(fromQImage(image), "generated").id);
        std::vector<atelier::QueuePairInput> pairs;
        for (size_t i = 0; i < ids.size(); ++i)
            for (size_t j = i + 1; j < ids.size(); ++j) pairs.push_back({ids[i], ids[j], prompt.toStdString(), {}});
        const int64_t queue = store_->create_queue(name.toStdString(), annotatorId_, pairs, 1);
        queueId_ = queue;
        refreshQueues();
        selectQueue(queue);
        return queue;
    } catch (const std::exception& e) {
        QMessageBox::warning(this, tr("Could not create the queue"), QString::fromStdString(e.what()));
        return 0;
    }
}

int64_t ComparePage::createQueueFromPairs(const QString& name, const QVector<QPair<QImage, QImage>>& pairs,
                                          const QString& prompt) {
    if (!store_ || pairs.isEmpty()) return 0;
    try {
        std::vector<atelier::QueuePairInput> inputs;
        for (const auto& pair : pairs) {
            const int64_t a = store_->import_asset(fromQImage(pair.first), "generated").id;
            const int64_t b = store_->import_asset(fromQImage(pair.second), "generated").id;
            if (a != b) inputs.push_back({a, b, prompt.toStdString(), {}});
        }
        if (inputs.empty()) return 0;
        const int64_t queue = store_->create_queue(name.toStdString(), annotatorId_, inputs, 1);
        refreshQueues();
        selectQueue(queue);
        return queue;
    } catch (const std::exception& e) {
        QMessageBox::warning(this, tr("Could not create the queue"), QString::fromStdString(e.what()));
        return 0;
    }
}

bool ComparePage::importFile(const QString& path, QStringList* issues) {
    if (!store_) return false;
    atelier::ImportOptions options;
    options.path = path.toStdString();
    options.annotator_id = annotatorId_;
    options.queue_name = QFileInfo(path).completeBaseName().toStdString();
    const atelier::ImportReport report = store_->import_data(options);
    if (!report.ok) {
        if (issues)
            for (const atelier::ImportIssue& issue : report.issues)
                *issues << QStringLiteral("%1:%2 %3: %4").arg(QString::fromStdString(issue.file)).arg(issue.line)
                               .arg(QString::fromStdString(issue.field), QString::fromStdString(issue.message));
        return false;
    }
    refreshQueues();
    Q_EMIT statusMessage(tr("Imported %1 judgements and %2 pairs").arg(report.comparisons).arg(report.queue_items));
    return true;
}

int64_t ComparePage::importFolder(const QString& folder) {
    if (!store_) return 0;
    const QStringList files = QDir(folder).entryList({QStringLiteral("*.png"), QStringLiteral("*.jpg"),
                                                      QStringLiteral("*.jpeg")},
                                                     QDir::Files, QDir::Name);
    std::vector<atelier::QueuePairInput> pairs;
    QStringList problems;
    std::vector<int64_t> ids;
    for (const QString& file : files) {
        try {
            ids.push_back(store_->import_asset(QDir(folder).filePath(file).toStdString(), "imported").id);
        } catch (const std::exception& e) {
            problems << QString::fromStdString(e.what());
        }
    }
    // Consecutive images (by name) form a pair: 001a.png / 001b.png, ...
    for (size_t i = 0; i + 1 < ids.size(); i += 2) pairs.push_back({ids[i], ids[i + 1], QDir(folder).dirName().toStdString(), {}});
    if (!problems.isEmpty()) QMessageBox::warning(this, tr("Some files were skipped"), problems.join(QLatin1Char('\n')));
    if (pairs.empty()) return 0;
    const int64_t queue = store_->create_queue(QDir(folder).dirName().toStdString(), annotatorId_, pairs, 1);
    refreshQueues();
    selectQueue(queue);
    return queue;
}

void ComparePage::exportQueue() {
    if (!store_ || !queueId_) return;
    const QString path = QFileDialog::getSaveFileName(this, tr("Export the queue"), QStringLiteral("queue.tar"),
                                                      tr("Bundle (*.tar);;Pick-a-Pic CSV (*.csv);;Label Studio JSON (*.json)"));
    if (path.isEmpty()) return;
    try {
        atelier::ExportOptions options;
        options.path = path.toStdString();
        options.queue_id = queueId_;
        const atelier::ExportReport report = store_->export_data(options);
        Q_EMIT statusMessage(tr("Exported %1 judgements to %2").arg(report.comparisons).arg(path));
    } catch (const std::exception& e) {
        QMessageBox::warning(this, tr("Export failed"), QString::fromStdString(e.what()));
    }
}

#include "moc_ComparePage.cpp"
