#include "GeneratePage.h"

#include <QAbstractItemView>
#include <QApplication>
#include <QCheckBox>
#include <QClipboard>
#include <QComboBox>
#include <QCompleter>
#include <QDateTime>
#include <QDoubleSpinBox>
#include <QDragEnterEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QInputDialog>
#include <QLineEdit>
#include <QLabel>
#include <QMessageBox>
#include <QMimeData>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QRandomGenerator>
#include <QShortcut>
#include <QSpinBox>
#include <QSplitter>
#include <QStringListModel>
#include <QTextBlock>
#include <QToolButton>
#include <QVBoxLayout>

#include "ClipPlayer.h"
#include "ImageConvert.h"
#include "atelier/video.h"
#include "PreviewView.h"
#include "atelier/error.h"
#include "atelier/image.h"
#include "atelier/prompt_travel.h"

namespace {
const char* const kSamplers[] = {"ddim", "euler", "euler_a", "dpmpp_2m", "dpmpp_2m_karras", "lcm"};

QPlainTextEdit* promptBox(const QString& placeholder, int lines) {
    auto* edit = new QPlainTextEdit;
    edit->setPlaceholderText(placeholder);
    edit->setTabChangesFocus(true);
    edit->setFixedHeight(edit->fontMetrics().lineSpacing() * lines + 14);
    return edit;
}

QString formatEta(double seconds) {
    if (seconds < 0) return {};
    if (seconds < 60) return QObject::tr("%1 s left").arg(seconds, 0, 'f', 1);
    return QObject::tr("%1 min %2 s left").arg(int(seconds) / 60).arg(int(seconds) % 60);
}
}  // namespace

GeneratePage::GeneratePage(JobRunner* runner, QWidget* parent) : QWidget(parent), runner_(runner) {
    setAcceptDrops(true);
    liveView_ = new PreviewView;
    liveView_->setObjectName(QStringLiteral("liveView"));
    gallery_ = new Gallery;
    gallery_->setObjectName(QStringLiteral("gallery"));
    gallery_->setMinimumHeight(180);

    player_ = new ClipPlayer(liveView_);
    player_->setObjectName(QStringLiteral("clipPlayer"));
    auto* viewBox = new QWidget;
    auto* viewLayout = new QVBoxLayout(viewBox);
    viewLayout->setContentsMargins(0, 0, 0, 0);
    viewLayout->addWidget(liveView_, 1);
    viewLayout->addWidget(player_);
    auto* right = new QSplitter(Qt::Vertical);
    right->addWidget(viewBox);
    right->addWidget(gallery_);
    right->setStretchFactor(0, 3);
    right->setStretchFactor(1, 1);

    auto* layout = new QHBoxLayout(this);
    layout->addWidget(buildControls());
    layout->addWidget(right, 1);

    connect(runner_, &JobRunner::busyChanged, this, &GeneratePage::onBusyChanged);
    connect(runner_, &JobRunner::progress, this, &GeneratePage::onProgress);
    connect(runner_, &JobRunner::preview, this, [this](quint64 ticket, int step, const QImage& image) {
        if (!isMine(ticket)) return;
        ++previewsReceived_;
        liveView_->setImage(image);
        PreviewView::Hud hud = liveView_->hud();
        hud.step = step;
        liveView_->setHud(hud);
    });
    connect(runner_, &JobRunner::generated, this, &GeneratePage::onGenerated);
    connect(runner_, &JobRunner::generationFailed, this, [this](quint64 ticket, const QString& message) {
        if (!isMine(ticket)) return;
        eta_->setText(tr("Failed"));
        QMessageBox::warning(this, tr("Generation failed"), message);
    });
    connect(runner_, &JobRunner::generationCancelled, this, [this](quint64 ticket) {
        if (!isMine(ticket)) return;
        eta_->setText(tr("Cancelled"));
        Q_EMIT statusMessage(tr("Generation cancelled"));
    });

    connect(gallery_, &Gallery::copyParametersRequested, this, [this](int index) {
        QApplication::clipboard()->setText(gallery_->entry(index).parametersText);
        Q_EMIT statusMessage(tr("Parameters copied"));
    });
    connect(gallery_, &Gallery::savePngRequested, this, [this](int index) {
        const GalleryItem& item = gallery_->entry(index);
        const QVector<QImage> clip = item.payload.value<QVector<QImage>>();
        if (clip.size() > 1) {  // a clip: GIF, MP4 or WebM by the chosen file type
            QString filter = tr("MP4 video (*.mp4)");
            QString path = QFileDialog::getSaveFileName(
                this, tr("Save clip"), QStringLiteral("atelier.mp4"),
                tr("MP4 video (*.mp4);;WebM video (*.webm);;GIF animation (*.gif)"), &filter);
            if (path.isEmpty()) return;
            if (QFileInfo(path).suffix().isEmpty())
                path += filter.contains(QLatin1String("webm")) ? QStringLiteral(".webm")
                        : filter.contains(QLatin1String("gif")) ? QStringLiteral(".gif") : QStringLiteral(".mp4");
            try {
                std::vector<atelier::Image> frames;
                for (const QImage& f : clip) frames.push_back(fromQImage(f));
                atelier::ClipOptions options;
                options.fps = player_->fps();
                atelier::write_clip(path.toStdString(), frames, options);
                Q_EMIT statusMessage(tr("Saved %1").arg(path));
            } catch (const std::exception& e) {
                QMessageBox::warning(this, tr("Could not save"), QString::fromStdString(e.what()));
            }
            return;
        }
        const QString path = QFileDialog::getSaveFileName(this, tr("Save PNG"), QStringLiteral("atelier.png"),
                                                          tr("PNG images (*.png)"));
        if (path.isEmpty()) return;
        try {
            atelier::write_png(path.toStdString(), fromQImage(item.image),
                               {{"parameters", item.parametersText.toStdString()}});
            Q_EMIT statusMessage(tr("Saved %1").arg(path));
        } catch (const std::exception& e) {
            QMessageBox::warning(this, tr("Could not save"), QString::fromStdString(e.what()));
        }
    });
    connect(gallery_, &Gallery::showEffectivePromptRequested, this, [this](int index) {
        QMessageBox::information(this, tr("Effective prompt"), gallery_->entry(index).effectivePrompt);
    });
    connect(gallery_, &Gallery::useParametersRequested, this, [this](int index) {
        try {
            applyParameters(atelier::parse_parameters(gallery_->entry(index).parametersText.toStdString()));
        } catch (const std::exception& e) {
            QMessageBox::warning(this, tr("Parameters"), QString::fromStdString(e.what()));
        }
    });
    connect(gallery_, &Gallery::imageActivated, this, [this](int index) {
        const GalleryItem& item = gallery_->entry(index);
        const QVector<QImage> clip = item.payload.value<QVector<QImage>>();
        if (clip.size() > 1) {
            double fps = 8;
            try {
                fps = atelier::parse_parameters(item.parametersText.toStdString()).fps;
            } catch (const std::exception&) {
            }
            player_->setClip(clip, fps > 0 ? fps : 8);
        } else {
            player_->clear();
            liveView_->setCrossfadeMs(180);
            liveView_->setImage(item.image);
        }
    });
    connect(gallery_, &Gallery::sendToCompareRequested, this, [this](const QList<int>& indexes) {
        if (indexes.size() < 2) return;
        QVector<QImage> images;
        for (int index : indexes) images << gallery_->entry(index).image;
        Q_EMIT sendToCompare(images, prompt_->toPlainText());
    });

    auto* generateShortcut = new QShortcut(QKeySequence(Qt::CTRL | Qt::Key_Return), this);
    connect(generateShortcut, &QShortcut::activated, this, &GeneratePage::startGeneration);
    auto* cancelShortcut = new QShortcut(QKeySequence(Qt::Key_Escape), this);
    connect(cancelShortcut, &QShortcut::activated, this, &GeneratePage::cancelGeneration);
    onBusyChanged(false);
}

QWidget* GeneratePage::buildControls() {
    auto* panel = new QWidget;
    panel->setFixedWidth(330);
    auto* layout = new QVBoxLayout(panel);
    layout->setContentsMargins(0, 0, 0, 0);

    prompt_ = promptBox(tr("Describe the picture… (Ctrl+Enter generates)"), 4);
    prompt_->setObjectName(QStringLiteral("prompt"));
    negative_ = promptBox(tr("Negative prompt: what to avoid"), 2);
    negative_->setObjectName(QStringLiteral("negativePrompt"));
    layout->addWidget(new QLabel(tr("<b>Prompt</b>")));
    layout->addWidget(prompt_);
    layout->addWidget(negative_);
    appliedRules_ = new QLabel;
    appliedRules_->setObjectName(QStringLiteral("appliedRules"));
    appliedRules_->setWordWrap(true);
    appliedRules_->setStyleSheet(QStringLiteral("color: palette(mid); font-size: 11px;"));
    layout->addWidget(appliedRules_);
    travel_ = new QLabel;
    travel_->setObjectName(QStringLiteral("travel"));
    travel_->setWordWrap(true);
    travel_->hide();
    layout->addWidget(travel_);
    motionWords_ = new QLabel;
    motionWords_->setObjectName(QStringLiteral("motionWords"));
    motionWords_->setWordWrap(true);
    motionWords_->setStyleSheet(QStringLiteral("color: palette(mid); font-size: 11px;"));
    motionWords_->hide();
    layout->addWidget(motionWords_);
    connect(prompt_, &QPlainTextEdit::textChanged, this, &GeneratePage::updateAppliedRules);
    connect(negative_, &QPlainTextEdit::textChanged, this, &GeneratePage::updateAppliedRules);
    connect(prompt_, &QPlainTextEdit::textChanged, this, &GeneratePage::updateTravel);
    connect(prompt_, &QPlainTextEdit::textChanged, this, &GeneratePage::updateMotionWords);

    auto* form = new QFormLayout;
    sampler_ = new QComboBox;
    sampler_->setObjectName(QStringLiteral("sampler"));
    sampler_->addItem(tr("model default"), QString());
    for (const char* name : kSamplers) sampler_->addItem(QString::fromLatin1(name), QString::fromLatin1(name));
    form->addRow(tr("Sampler"), sampler_);
    steps_ = new QSpinBox;
    steps_->setObjectName(QStringLiteral("steps"));
    steps_->setRange(1, 150);
    steps_->setValue(20);
    form->addRow(tr("Steps"), steps_);
    guidance_ = new QDoubleSpinBox;
    guidance_->setObjectName(QStringLiteral("guidance"));
    guidance_->setRange(0.0, 30.0);
    guidance_->setSingleStep(0.5);
    guidance_->setValue(7.5);
    form->addRow(tr("Guidance"), guidance_);

    auto* seedRow = new QHBoxLayout;
    seed_ = new QSpinBox;
    seed_->setObjectName(QStringLiteral("seed"));
    seed_->setRange(0, std::numeric_limits<int>::max());
    seed_->setValue(1);
    lockSeed_ = new QCheckBox(tr("lock"));
    lockSeed_->setObjectName(QStringLiteral("lockSeed"));
    lockSeed_->setChecked(true);
    auto* randomize = new QToolButton;
    randomize->setText(tr("New"));
    randomize->setToolTip(tr("New random seed"));
    connect(randomize, &QToolButton::clicked, this,
            [this] { seed_->setValue(int(QRandomGenerator::global()->bounded(std::numeric_limits<int>::max()))); });
    seedRow->addWidget(seed_, 1);
    seedRow->addWidget(lockSeed_);
    seedRow->addWidget(randomize);
    form->addRow(tr("Seed"), seedRow);

    auto* sizeRow = new QHBoxLayout;
    width_ = new QSpinBox;
    height_ = new QSpinBox;
    for (QSpinBox* box : {width_, height_}) {
        box->setRange(0, 2048);
        box->setSingleStep(8);
        box->setSpecialValueText(tr("auto"));
        box->setValue(0);
        sizeRow->addWidget(box);
    }
    width_->setObjectName(QStringLiteral("width"));
    height_->setObjectName(QStringLiteral("height"));
    form->addRow(tr("Size"), sizeRow);
    batch_ = new QSpinBox;
    batch_->setObjectName(QStringLiteral("batch"));
    batch_->setRange(1, 16);
    form->addRow(tr("Batch"), batch_);
    auto* videoRow = new QHBoxLayout;
    frames_ = new QSpinBox;
    frames_->setObjectName(QStringLiteral("frames"));
    frames_->setRange(0, 32);
    frames_->setSpecialValueText(tr("image"));
    connect(frames_, &QSpinBox::valueChanged, this, &GeneratePage::updateTravel);
    connect(frames_, &QSpinBox::valueChanged, this, &GeneratePage::updateMotionWords);
    setMotionPhrases({});
    fps_ = new QDoubleSpinBox;
    fps_->setRange(1, 60);
    fps_->setValue(8);
    fps_->setSuffix(tr(" fps"));
    videoRow->addWidget(frames_, 1);
    videoRow->addWidget(fps_, 1);
    form->addRow(tr("Video"), videoRow);
    bestOfN_ = new QCheckBox(tr("Rank a batch by my taste (best of N)"));
    bestOfN_->setObjectName(QStringLiteral("bestOfN"));
    bestOfN_->setToolTip(tr("Orders the batch by your taste model (Memory > Taste) with the probability each is your favourite"));
    form->addRow(QString(), bestOfN_);
    layout->addLayout(form);

    auto* buttons = new QHBoxLayout;
    generateButton_ = new QPushButton(tr("Generate"));
    generateButton_->setObjectName(QStringLiteral("generateButton"));
    generateButton_->setDefault(true);
    generateButton_->setMinimumHeight(34);
    cancelButton_ = new QPushButton(tr("Cancel"));
    cancelButton_->setObjectName(QStringLiteral("cancelButton"));
    cancelButton_->setMinimumHeight(34);
    connect(generateButton_, &QPushButton::clicked, this, &GeneratePage::startGeneration);
    connect(cancelButton_, &QPushButton::clicked, this, &GeneratePage::cancelGeneration);
    buttons->addWidget(generateButton_, 2);
    buttons->addWidget(cancelButton_, 1);
    layout->addLayout(buttons);
    auto* comparePromptsButton = new QPushButton(tr("Compare with another prompt…"));
    comparePromptsButton->setObjectName(QStringLiteral("comparePrompts"));
    comparePromptsButton->setToolTip(tr("Same seeds, two prompts: the pairs go to Compare"));
    connect(comparePromptsButton, &QPushButton::clicked, this, [this] {
        bool ok = false;
        const QString other = QInputDialog::getText(this, tr("Compare two prompts"),
                                                    tr("Prompt B (A is the current prompt):"), QLineEdit::Normal,
                                                    prompt_->toPlainText(), &ok);
        if (ok && !other.trimmed().isEmpty()) comparePrompts(other.trimmed());
    });
    layout->addWidget(comparePromptsButton);

    progress_ = new QProgressBar;
    progress_->setObjectName(QStringLiteral("progress"));
    progress_->setRange(0, 1);
    progress_->setValue(0);
    progress_->setFormat(QStringLiteral("%v / %m"));
    eta_ = new QLabel;
    eta_->setObjectName(QStringLiteral("eta"));
    layout->addWidget(progress_);
    layout->addWidget(eta_);
    layout->addStretch(1);
    return panel;
}

void GeneratePage::setConceptTokens(const QStringList& tokens) {
    auto* completer = prompt_->findChild<QCompleter*>();
    if (!completer) {
        completer = new QCompleter(prompt_);
        completer->setWidget(prompt_);
        completer->setCaseSensitivity(Qt::CaseInsensitive);
        completer->setCompletionMode(QCompleter::PopupCompletion);
        connect(completer, qOverload<const QString&>(&QCompleter::activated), this, [this, completer](const QString& text) {
            QTextCursor cursor = prompt_->textCursor();
            cursor.movePosition(QTextCursor::Left, QTextCursor::KeepAnchor, completer->completionPrefix().size());
            cursor.insertText(text);
            prompt_->setTextCursor(cursor);
        });
        // A trigger token starts with '<': complete the word being typed from the enrolled concepts.
        connect(prompt_, &QPlainTextEdit::textChanged, this, [this, completer] {
            QTextCursor cursor = prompt_->textCursor();
            const QString before = cursor.block().text().left(cursor.positionInBlock());
            const int start = before.lastIndexOf(QLatin1Char('<'));
            if (start < 0 || before.mid(start).contains(QLatin1Char(' ')) || before.mid(start).contains(QLatin1Char('>'))) {
                completer->popup()->hide();
                return;
            }
            completer->setCompletionPrefix(before.mid(start));
            if (completer->completionCount() == 0) {
                completer->popup()->hide();
                return;
            }
            QRect rect = prompt_->cursorRect();
            rect.setWidth(220);
            completer->complete(rect);
        });
    }
    completer->setModel(new QStringListModel(tokens, completer));
}

void GeneratePage::setPromptRules(std::function<EffectivePrompt(const QString&, const QString&)> rules) {
    rules_ = std::move(rules);
    updateAppliedRules();
}

void GeneratePage::updateAppliedRules() {
    if (!rules_) {
        appliedRules_->clear();
        return;
    }
    const EffectivePrompt effective = rules_(prompt_->toPlainText(), negative_->toPlainText());
    appliedRules_->setText(effective.appliedRules.isEmpty()
                               ? tr("No memory rule changes this prompt.")
                               : tr("Memory adds: %1").arg(effective.appliedRules.join(QStringLiteral("; "))));
}

void GeneratePage::updateTravel() {
    std::optional<atelier::PromptTravel> travel;
    QString problem;
    try {
        travel = atelier::parse_prompt_travel(prompt_->toPlainText().toStdString());
        if (travel && frames_->value() > 1) atelier::check_prompt_travel(*travel, frames_->value());
    } catch (const atelier::Error& e) {
        problem = QString::fromStdString(e.what());
    }
    travel_->setVisible(travel.has_value() || !problem.isEmpty());
    travel_->setStyleSheet(problem.isEmpty() ? QStringLiteral("color: palette(mid); font-size: 11px;")
                                             : QStringLiteral("color: #e0707a; font-size: 11px;"));
    if (!problem.isEmpty()) {
        travel_->setText(problem);
        return;
    }
    if (!travel) return;
    QStringList frames;
    for (const atelier::PromptKeyframe& k : travel->keyframes) frames << QString::number(k.frame);
    travel_->setText(frames_->value() > 1
                         ? tr("Prompt travel over %1 frames: keyframes %2").arg(frames_->value()).arg(frames.join(QStringLiteral(", ")))
                         : tr("Prompt travel (keyframes %1): a picture uses frame 0's prompt; set Video to a number of "
                              "frames to travel")
                               .arg(frames.join(QStringLiteral(", "))));
}

void GeneratePage::updateMotionWords() {
    // A clip's prompt: which motion words it holds, or, when none, which the module knows (a person making a clip
    // should not have to find them in a tooltip). A picture: nothing.
    const bool clip = frames_->value() > 1 && !motionPhrases_.empty();
    QStringList found, known;
    if (clip) {
        for (const std::string& p : atelier::motion_phrases_in(prompt_->toPlainText().toStdString(), motionPhrases_))
            found << QString::fromStdString(p);
        for (const std::string& p : motionPhrases_) known << QString::fromStdString(p);
    }
    motionWords_->setVisible(clip);
    motionWords_->setText(!clip ? QString()
                          : !found.isEmpty()
                              ? tr("Motion words: “%1” (the motion module's LoRA for each moves this clip)")
                                    .arg(found.join(QStringLiteral("”, “")))
                              : tr("Motion words you can add: “%1”").arg(known.join(QStringLiteral("”, “"))));
}

atelier::GenerateRequest GeneratePage::currentRequest() {
    if (!lockSeed_->isChecked()) seed_->setValue(int(QRandomGenerator::global()->bounded(std::numeric_limits<int>::max())));
    EffectivePrompt effective{prompt_->toPlainText(), negative_->toPlainText(), {}};
    if (rules_) effective = rules_(effective.prompt, effective.negativePrompt);
    lastEffective_ = effective;
    atelier::GenerateRequest request;
    request.prompt = effective.prompt.toStdString();
    request.negative_prompt = effective.negativePrompt.toStdString();
    request.seed = uint64_t(seed_->value());
    request.steps = steps_->value();
    request.guidance = float(guidance_->value());
    request.sampler = sampler_->currentData().toString().toStdString();
    request.width = width_->value();
    request.height = height_->value();
    request.batch = batch_->value();
    request.frames = frames_->value() > 1 ? frames_->value() : 0;
    request.fps = float(fps_->value());
    if (personalize_) personalize_(request);
    return request;
}

void GeneratePage::applyParameters(const atelier::GenerationParams& params) {
    prompt_->setPlainText(QString::fromStdString(params.prompt));
    negative_->setPlainText(QString::fromStdString(params.negative_prompt));
    if (params.steps > 0) steps_->setValue(params.steps);
    if (params.guidance > 0) guidance_->setValue(params.guidance);
    seed_->setValue(int(params.seed % uint64_t(std::numeric_limits<int>::max())));
    lockSeed_->setChecked(true);
    const int samplerIndex = sampler_->findData(QString::fromStdString(params.sampler));
    sampler_->setCurrentIndex(samplerIndex >= 0 ? samplerIndex : 0);
    width_->setValue(params.width);
    height_->setValue(params.height);
}

bool GeneratePage::loadParametersFromPng(const QString& path, QString* error) {
    try {
        const auto text = atelier::read_png_text(path.toStdString());
        const auto found = text.find("parameters");
        if (found == text.end()) {
            if (error) *error = tr("%1 carries no generation parameters.").arg(QFileInfo(path).fileName());
            return false;
        }
        applyParameters(atelier::parse_parameters(found->second));
        Q_EMIT statusMessage(tr("Loaded the parameters of %1").arg(QFileInfo(path).fileName()));
        return true;
    } catch (const std::exception& e) {
        if (error) *error = QString::fromStdString(e.what());
        return false;
    }
}

void GeneratePage::useModelDefaults(int steps, double guidance) {
    steps_->setValue(steps);
    guidance_->setValue(guidance);
}

void GeneratePage::setExamplePrompt(const QString& example) {
    prompt_->setPlaceholderText(example.isEmpty() ? tr("Describe the picture… (Ctrl+Enter generates)")
                                                  : tr("Describe the picture, e.g. “%1” (Ctrl+Enter generates)").arg(example));
}

void GeneratePage::setMotionPhrases(const QStringList& phrases) {
    QString tip = tr("Frames of a clip (needs a motion module: the model's own, or File > Load motion module)\n"
                     "Prompt travel: lines “FRAME: text” in the prompt change it over the clip, e.g.\n"
                     "a red star on a blue background\n0: on the right\n15: on the left");
    if (!phrases.isEmpty())
        tip += tr("\nMotion words this module knows (each applies its motion LoRA to the clip): “%1”")
                   .arg(phrases.join(QStringLiteral("”, “")));
    frames_->setToolTip(tip);
    motionPhrases_.clear();
    for (const QString& p : phrases) motionPhrases_.push_back(p.toStdString());
    updateMotionWords();
}

void GeneratePage::startGeneration() {
    if (!runner_->hasModel()) {
        QMessageBox::information(this, tr("No model"), tr("Open a model first (File > Open model)."));
        return;
    }
    if (runner_->isBusy()) return;
    const atelier::GenerateRequest request = currentRequest();
    previewsReceived_ = 0;
    progress_->setRange(0, request.steps);
    progress_->setValue(0);
    eta_->setText(tr("Starting…"));
    runStartedMs_ = QDateTime::currentMSecsSinceEpoch();
    PreviewView::Hud hud = liveView_->hud();
    hud.step = 0;
    hud.totalSteps = request.steps;
    liveView_->setHud(hud);
    ticket_ = runner_->generate(request);
}

void GeneratePage::cancelGeneration() {
    runner_->cancel(ticket_);
    runner_->cancel(promptATicket_);
    runner_->cancel(promptBTicket_);
}

void GeneratePage::comparePrompts(const QString& otherPrompt) {
    if (!runner_->hasModel() || runner_->isBusy()) return;
    atelier::GenerateRequest a = currentRequest();
    if (a.batch < 2) a.batch = 4;  // a single pair says little
    atelier::GenerateRequest b = a;
    EffectivePrompt effectiveB{otherPrompt, negative_->toPlainText(), {}};
    if (rules_) effectiveB = rules_(effectiveB.prompt, effectiveB.negativePrompt);
    b.prompt = effectiveB.prompt.toStdString();
    b.negative_prompt = effectiveB.negativePrompt.toStdString();
    b.concepts.clear();
    if (personalize_) personalize_(b);
    promptAImages_.clear();
    promptBImages_.clear();
    promptPairLabel_ = tr("A: %1  |  B: %2").arg(prompt_->toPlainText().trimmed(), otherPrompt);
    eta_->setText(tr("Generating both prompts…"));
    promptATicket_ = runner_->generate(a);
    promptBTicket_ = runner_->generate(b);
}

void GeneratePage::onBusyChanged(bool busy) {
    generateButton_->setEnabled(!busy);
    cancelButton_->setEnabled(busy);
}

void GeneratePage::onProgress(quint64 ticket, int step, int total, double etaSeconds) {
    if (!isMine(ticket)) return;
    progress_->setRange(0, total);
    progress_->setValue(step);
    eta_->setText(formatEta(etaSeconds));
    PreviewView::Hud hud = liveView_->hud();
    hud.step = step;
    hud.totalSteps = total;
    const qint64 elapsed = QDateTime::currentMSecsSinceEpoch() - runStartedMs_;
    hud.msPerStep = step > 0 ? double(elapsed) / step : 0;
    liveView_->setHud(hud);
}

void GeneratePage::onGenerated(quint64 ticket, const QVector<GeneratedImage>& images) {
    if (ticket && (ticket == promptATicket_ || ticket == promptBTicket_)) {
        QVector<QImage>& target = ticket == promptATicket_ ? promptAImages_ : promptBImages_;
        for (const GeneratedImage& g : images) target.push_back(g.image);
        if (!promptAImages_.isEmpty() && promptAImages_.size() == promptBImages_.size()) {
            QVector<QPair<QImage, QImage>> pairs;
            for (int i = 0; i < promptAImages_.size(); ++i) pairs.push_back({promptAImages_[i], promptBImages_[i]});
            promptATicket_ = promptBTicket_ = 0;
            eta_->setText(tr("Both prompts done"));
            Q_EMIT sendPairsToCompare(pairs, promptPairLabel_);
        }
        return;
    }
    if (ticket != ticket_ || images.isEmpty()) return;
    eta_->setText(tr("Done in %1 s").arg(images.front().durationMs / 1000.0, 0, 'f', 2));
    const int frames = images.front().params.frames;
    if (frames > 1) {  // clips: one gallery entry each, played in the live view
        QVector<QVector<QImage>> clips;
        for (int start = 0; start + frames <= images.size(); start += frames) {
            QVector<QImage> clip;
            for (int f = 0; f < frames; ++f) clip.push_back(images[start + f].image);
            clips.push_back(clip);
        }
        const QString effective = lastEffective_.prompt;
        const double fps = images.front().params.fps;
        // Adds the clips in `order`, captioned; the first one added plays.
        auto show = [this, images, clips, frames, effective, fps](QVector<int> order, QStringList ranks) {
            const int first = gallery_->itemCount();
            for (int k = 0; k < order.size(); ++k) {
                const int c = order[k];
                const atelier::GenerationParams& params = images[c * frames].params;
                GalleryItem item;
                item.image = clips[c].front();
                item.caption = tr("clip · seed %1 · %2 frames").arg(params.seed).arg(frames);
                if (!ranks.isEmpty()) item.caption = tr("#%1 · %2 · %3").arg(k + 1).arg(ranks.value(k), item.caption);
                item.parametersText = QString::fromStdString(atelier::format_parameters(params));
                item.effectivePrompt = effective;
                item.payload = QVariant::fromValue(clips[c]);
                gallery_->addItem(item);
            }
            player_->setClip(gallery_->entry(ranks.isEmpty() ? gallery_->itemCount() - 1 : first)
                                 .payload.value<QVector<QImage>>(),
                             fps);
            gallery_->scrollToBottom();
        };
        QVector<int> inOrder;
        for (int c = 0; c < clips.size(); ++c) inOrder << c;
        if (bestOfN_->isChecked() && ranker_ && clips.size() > 1) ranker_(clips, show);
        else show(inOrder, QStringList());
        Q_EMIT imagesGenerated(images, lastEffective_.prompt);
        return;
    }
    player_->clear();
    liveView_->setCrossfadeMs(180);
    liveView_->setImage(images.front().image);
    if (bestOfN_->isChecked() && ranker_ && images.size() > 1) {
        QVector<QVector<QImage>> pictures;
        for (const GeneratedImage& g : images) pictures.push_back({g.image});
        const QString effective = lastEffective_.prompt;
        ranker_(pictures, [this, images, effective](QVector<int> order, QStringList captions) {
            const int first = gallery_->itemCount();
            for (int rank = 0; rank < order.size(); ++rank) {
                const GeneratedImage& generated = images[order[rank]];
                GalleryItem item;
                item.image = generated.image;
                item.caption = tr("#%1 · %2").arg(rank + 1).arg(captions.value(rank));
                item.parametersText = QString::fromStdString(atelier::format_parameters(generated.params));
                item.effectivePrompt = effective;
                gallery_->addItem(item);
            }
            liveView_->setImage(gallery_->entry(first).image);
            gallery_->scrollToBottom();
        });
        Q_EMIT imagesGenerated(images, lastEffective_.prompt);
        return;
    }
    for (const GeneratedImage& generated : images) {
        GalleryItem item;
        item.image = generated.image;
        item.caption = tr("seed %1").arg(generated.params.seed);
        item.parametersText = QString::fromStdString(atelier::format_parameters(generated.params));
        item.effectivePrompt = lastEffective_.prompt;
        gallery_->addItem(item);
    }
    gallery_->scrollToBottom();
    Q_EMIT imagesGenerated(images, lastEffective_.prompt);
}

void GeneratePage::dragEnterEvent(QDragEnterEvent* event) {
    if (event->mimeData()->hasUrls()) event->acceptProposedAction();
}

void GeneratePage::dropEvent(QDropEvent* event) {
    const QList<QUrl> urls = event->mimeData()->urls();
    if (urls.isEmpty()) return;
    QString error;
    if (!loadParametersFromPng(urls.front().toLocalFile(), &error)) {
        QMessageBox::warning(this, tr("Cannot read parameters"), error);
    }
    event->acceptProposedAction();
}

#include "moc_GeneratePage.cpp"
