#include "PresenterWindow.h"

#include <QDateTime>
#include <QDir>
#include <QFileInfo>
#include <QKeyEvent>
#include <QLineEdit>
#include <QVBoxLayout>

#include "ImageConvert.h"
#include "atelier/image.h"
#include "atelier/system.h"
#include "atelier/video.h"

PresenterWindow::PresenterWindow(JobRunner* runner, QWidget* parent) : QWidget(parent), runner_(runner) {
    setWindowTitle(tr("Atelier — presenter"));
    setAttribute(Qt::WA_DeleteOnClose, false);
    QPalette dark = palette();
    dark.setColor(QPalette::Window, QColor(12, 12, 14));
    setPalette(dark);
    setAutoFillBackground(true);

    view_ = new PreviewView;
    view_->setObjectName(QStringLiteral("presenterView"));
    view_->setCrossfadeMs(220);
    prompt_ = new QLineEdit;
    prompt_->setObjectName(QStringLiteral("presenterPrompt"));
    prompt_->setPlaceholderText(tr("Type a prompt — the picture follows. Esc: controls · H: HUD · W: compare · F11/Esc: leave"));
    prompt_->setStyleSheet(QStringLiteral(
        "QLineEdit { font-size: 24px; padding: 12px 18px; border-radius: 10px; border: 1px solid #444;"
        " background: #1c1c20; color: #f0f0f4; }"));
    prompt_->installEventFilter(this);

    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(24, 24, 24, 24);
    layout->addWidget(view_, 1);
    layout->addWidget(prompt_);

    PreviewView::Hud hud;
    hud.title = tr("Atelier - live");
    hud.interactive = true;
    hud.device = QString::fromStdString(atelier::available_devices().front().name);
    view_->setHud(hud);
    PreviewView::HudSettings settings;
    settings.steps = 8;  // few steps: the picture follows the typing
    if (runner_->hasModel()) settings.guidance = runner_->modelInfo().default_guidance;
    view_->setHudSettings(settings);
    // Guidance starts at the model's own (its atelier.json), as on the Generate page; the person's slider wins
    // until another model loads.
    connect(runner_, &JobRunner::modelLoaded, this, [this](const atelier::ModelInfo& info) {
        PreviewView::HudSettings s = view_->hudSettings();
        s.guidance = info.default_guidance;
        view_->setHudSettings(s);
    });

    debounce_.setSingleShot(true);
    debounce_.setInterval(350);
    connect(&debounce_, &QTimer::timeout, this, &PresenterWindow::regenerate);
    connect(prompt_, &QLineEdit::textEdited, this, [this] {
        sinceTyping_.restart();
        debounce_.start();
    });
    connect(prompt_, &QLineEdit::returnPressed, this, [this] {
        debounce_.stop();
        regenerate();
    });
    connect(view_, &PreviewView::hudSettingsChanged, this, [this] { regenerate(); });
    connect(runner_, &JobRunner::preview, this, &PresenterWindow::onPreview);
    connect(runner_, &JobRunner::generated, this, &PresenterWindow::onGenerated);
    connect(runner_, &JobRunner::progress, this, [this](quint64 ticket, int step, int total, double) {
        if (ticket != mainTicket_) return;
        if (step == 1) sinceFirstStep_.restart();
        stepsDone_ = step;
        PreviewView::Hud hud = view_->hud();
        hud.step = step;
        hud.totalSteps = total;
        if (step > 1) hud.msPerStep = double(sinceFirstStep_.elapsed()) / (step - 1);
        view_->setHud(hud);
    });
    sinceOpen_.start();
}

PresenterWindow::~PresenterWindow() {
    runner_->cancel(mainTicket_);
    runner_->cancel(baseTicket_);
    runner_->cancel(gridTicket_);
}

void PresenterWindow::setStore(atelier::Store* store, int64_t profileId) {
    store_ = store;
    profileId_ = profileId;
}

void PresenterWindow::setPromptRules(std::function<EffectivePrompt(const QString&, const QString&)> rules) {
    rules_ = std::move(rules);
}

void PresenterWindow::setModelName(const QString& name) {
    PreviewView::Hud hud = view_->hud();
    hud.model = name;
    view_->setHud(hud);
}

void PresenterWindow::regenerate() {
    const QString text = prompt_->text().trimmed();
    if (text.isEmpty() || !runner_->hasModel()) return;
    // The newest prompt wins: whatever is still running for the previous one stops at its next step.
    runner_->cancel(mainTicket_);
    runner_->cancel(baseTicket_);
    runner_->cancel(gridTicket_);
    baseTicket_ = gridTicket_ = 0;
    base_ = QImage();  // B belongs to the new prompt: picks and the taste line wait for it
    tasteLine_.clear();
    if (!sinceTyping_.isValid()) sinceTyping_.start();
    timing_ = {};
    ++regenerations_;

    PreviewView::HudSettings settings = view_->hudSettings();
    if (!settings.seedLocked) {
        settings.seed = quint64(QDateTime::currentMSecsSinceEpoch());
        view_->setHudSettings(settings);
    }
    EffectivePrompt effective{text, QString(), {}};
    if (rules_) effective = rules_(text, QString());
    effectivePrompt_ = effective.prompt;

    atelier::GenerateRequest request;
    request.prompt = effective.prompt.toStdString();
    request.negative_prompt = effective.negativePrompt.toStdString();
    request.steps = settings.steps;
    request.guidance = settings.guidance;
    request.seed = settings.seed;
    if (personalize_) personalize_(request);
    settings.strengths = applyStrengths(request, settings.strengths);
    view_->setHudSettings(settings);
    mainTicket_ = runner_->generate(request);

    const PreviewView::Layout layout = view_->layoutMode();
    if (layout == PreviewView::Layout::Wipe || layout == PreviewView::Layout::SideBySide) {
        // B: the same seed and prompt without the personal memory (the base model's answer).
        atelier::GenerateRequest base = request;
        base.prompt = text.toStdString();
        base.negative_prompt.clear();
        base.concepts.clear();  // B: the base model, without the person's concepts or memory
        baseTicket_ = runner_->generate(base);
    } else if (layout == PreviewView::Layout::Grid) {
        atelier::GenerateRequest grid = request;
        grid.batch = 4;  // four seeds: seed .. seed+3
        gridTicket_ = runner_->generate(grid);
    }
    stepsDone_ = 0;
    updateHud();
    Q_EMIT regenerationStarted(text);
}

QVector<QPair<QString, float>> PresenterWindow::applyStrengths(atelier::GenerateRequest& request,
                                                               const QVector<QPair<QString, float>>& sliders) {
    QVector<QPair<QString, float>> now;
    auto apply = [&](const QString& name, float& strength) {
        for (const auto& [known, value] : sliders)
            if (known == name) strength = value;
        now.append({name, strength});
    };
    for (atelier::ConceptSpec& c : request.concepts)
        apply(c.token.empty() ? QFileInfo(QString::fromStdString(c.path)).completeBaseName() : QString::fromStdString(c.token),
              c.strength);
    for (atelier::LoraSpec& l : request.loras)
        apply(QStringLiteral("lora:") + QFileInfo(QString::fromStdString(l.path)).completeBaseName(), l.strength);
    return now;
}

void PresenterWindow::onPreview(quint64 ticket, int, const QImage& image) {
    if (ticket != mainTicket_) return;
    if (timing_.firstPreviewMs < 0) timing_.firstPreviewMs = double(sinceTyping_.elapsed());
    showImage(image);
}

void PresenterWindow::showImage(const QImage& image) {
    view_->setImage(image);
    if (!recording_ || image.isNull() || int(recorded_.size()) >= kMaxRecordedFrames) return;
    // Every frame of a clip has one size: the first picture's (a model switch mid-session is scaled).
    const QSize size = recorded_.empty() ? image.size() : QSize(recorded_.front().width, recorded_.front().height);
    recorded_.push_back(fromQImage(image.size() == size ? image : image.scaled(size, Qt::IgnoreAspectRatio,
                                                                               Qt::SmoothTransformation)));
}

void PresenterWindow::onGenerated(quint64 ticket, const QVector<GeneratedImage>& images) {
    if (!isMine(ticket) || images.isEmpty()) return;
    if (ticket == mainTicket_) {
        timing_.finalImageMs = double(sinceTyping_.elapsed());
        const double runSeconds = sinceFirstStep_.isValid() ? sinceFirstStep_.elapsed() / 1000.0 : 0;
        timing_.stepsPerSecond = runSeconds > 0 && stepsDone_ > 1 ? (stepsDone_ - 1) / runSeconds : 0;
        personalized_ = images.front().image;
        showImage(personalized_);
        ++imagesShown_;
    } else if (ticket == baseTicket_) {
        base_ = images.front().image;
        view_->setCompareImage(base_);
    }
    if (scorer_ && (ticket == mainTicket_ || ticket == baseTicket_) && !personalized_.isNull()) {
        const bool compared = baseTicket_ != 0 && !base_.isNull();
        tasteLine_ = scorer_(personalized_, compared ? base_ : QImage());
    }
    if (ticket == gridTicket_) {
        QVector<QImage> grid;
        for (const GeneratedImage& g : images) grid.push_back(g.image);
        view_->setGridImages(grid);
    }
    updateHud();
    if (ticket == mainTicket_) Q_EMIT finalImageShown();
}

void PresenterWindow::updateHud() {
    PreviewView::Hud hud = view_->hud();
    hud.effectivePrompt = effectivePrompt_;
    hud.tasteScore = tasteLine_;
    const double seconds = sinceOpen_.elapsed() / 1000.0;
    hud.imagesPerSecond = seconds > 0 ? imagesShown_ / seconds : 0;
    hud.extraLines.clear();
    if (timing_.finalImageMs >= 0)
        hud.extraLines << tr("typing -> preview %1 ms, final %2 ms").arg(timing_.firstPreviewMs, 0, 'f', 0).arg(timing_.finalImageMs, 0, 'f', 0);
    static const char* names[] = {"", "single", "A/B wipe: personalized | base", "side by side: personalized | base",
                                  "2x2: four seeds"};
    hud.extraLines << tr("layout  %1  (W)").arg(QString::fromLatin1(names[int(view_->layoutMode())]));
    hud.extraLines << tr("scale   %1  (F)").arg(view_->crispUpscale() ? tr("crisp pixels") : tr("smooth"));
    if (recording_) hud.extraLines << tr("REC  %1 frames  (R stops and saves)").arg(recorded_.size());
    view_->setHud(hud);
}

void PresenterWindow::recordPick(atelier::Choice choice) {
    if (!store_ || personalized_.isNull() || base_.isNull()) return;
    try {
        atelier::Judgement judgement;
        judgement.annotator_id = profileId_;
        judgement.left_asset_id = store_->import_asset(fromQImage(personalized_), "generated").id;
        judgement.right_asset_id = store_->import_asset(fromQImage(base_), "generated").id;
        judgement.prompt = prompt_->text().trimmed().toStdString();
        judgement.choice = choice;
        judgement.session = "presenter";
        store_->record_judgement(judgement);
        PreviewView::Hud hud = view_->hud();
        hud.extraLines << tr("recorded: %1 preferred").arg(choice == atelier::Choice::left ? tr("personalized") : tr("base"));
        view_->setHud(hud);
    } catch (const std::exception& e) {
        qWarning("presenter: the pick was not recorded: %s", e.what());
    }
}

namespace {
QString capturePath(const QString& extension) {
    const QString dir = QString::fromStdString(atelier::data_dir()) + QStringLiteral("/captures");
    QDir().mkpath(dir);
    return dir + QStringLiteral("/presenter-%1.%2")
                     .arg(QDateTime::currentDateTime().toString(QStringLiteral("yyyyMMdd-hhmmss-zzz")), extension);
}
}  // namespace

void PresenterWindow::hudNote(const QString& line) {
    PreviewView::Hud hud = view_->hud();
    hud.extraLines << line;
    view_->setHud(hud);
}

void PresenterWindow::captureFrame() {
    const QString path = capturePath(QStringLiteral("png"));
    if (view_->grabFramebuffer().save(path)) hudNote(tr("saved %1").arg(path));
    else hudNote(tr("could not save %1").arg(path));
}

void PresenterWindow::startRecording() {
    recorded_.clear();
    recording_ = true;
    if (!personalized_.isNull()) showImage(personalized_);  // the clip starts from what is on screen
    hudNote(tr("recording (R stops and saves)"));
}

QString PresenterWindow::stopRecording(const QString& requested) {
    recording_ = false;
    std::vector<atelier::Image> frames;
    frames.swap(recorded_);
    if (frames.empty()) {
        hudNote(tr("recording stopped: nothing was shown"));
        return {};
    }
    const QString path = requested.isEmpty() ? capturePath(QStringLiteral("mp4")) : requested;
    try {
        atelier::ClipOptions options;
        options.fps = 8;
        options.min_side = 512;  // crisp on a projector
        atelier::write_clip(path.toStdString(), frames, options);
    } catch (const std::exception& e) {
        hudNote(tr("recording not saved: %1").arg(QString::fromStdString(e.what())));
        return {};
    }
    hudNote(tr("saved %1 frames to %2").arg(frames.size()).arg(path));
    return path;
}

bool PresenterWindow::eventFilter(QObject* watched, QEvent* event) {
    if (watched == prompt_ && event->type() == QEvent::KeyPress) {
        auto* key = static_cast<QKeyEvent*>(event);
        if (key->key() == Qt::Key_Escape) {  // from typing to the controls
            view_->setFocus();
            return true;
        }
        if (key->key() == Qt::Key_F11) {
            Q_EMIT left();
            return true;
        }
    }
    return QWidget::eventFilter(watched, event);
}

void PresenterWindow::keyPressEvent(QKeyEvent* event) {
    PreviewView::HudSettings settings = view_->hudSettings();
    switch (event->key()) {
        case Qt::Key_Escape:
        case Qt::Key_F11: Q_EMIT left(); return;
        case Qt::Key_H: view_->setHudVisible(!view_->isHudVisible()); return;
        case Qt::Key_W: {
            const int next = int(view_->layoutMode()) % 4 + 1;
            view_->setLayoutMode(PreviewView::Layout(next));
            updateHud();
            regenerate();
            return;
        }
        case Qt::Key_C: captureFrame(); return;
        case Qt::Key_F:  // the presenter's choice: crisp pixels (nearest) or smooth (linear) upscaling
            view_->setCrispUpscale(!view_->crispUpscale());
            updateHud();
            return;
        case Qt::Key_R:
            if (recording_) stopRecording();
            else startRecording();
            return;
        case Qt::Key_L: settings.seedLocked = !settings.seedLocked; break;
        case Qt::Key_N: settings.seed = settings.seed * 6364136223846793005ULL + 1442695040888963407ULL; break;
        case Qt::Key_Plus: case Qt::Key_Equal: settings.steps = std::min(50, settings.steps + 1); break;
        case Qt::Key_Minus: settings.steps = std::max(1, settings.steps - 1); break;
        case Qt::Key_BracketRight: settings.guidance = std::min(15.0f, settings.guidance + 0.5f); break;
        case Qt::Key_BracketLeft: settings.guidance = std::max(0.0f, settings.guidance - 0.5f); break;
        case Qt::Key_Left: recordPick(atelier::Choice::left); return;
        case Qt::Key_Right: recordPick(atelier::Choice::right); return;
        case Qt::Key_Slash: case Qt::Key_Return: case Qt::Key_Enter: prompt_->setFocus(); return;
        default: QWidget::keyPressEvent(event); return;
    }
    view_->setHudSettings(settings);
    regenerate();
}

#include "moc_PresenterWindow.cpp"
