// GeneratePage: prompt and settings, Generate/Cancel with progress and ETA, the live view showing
// step previews, and a gallery of this session's results.
#pragma once
#include <QWidget>
#include <functional>

#include "Gallery.h"
#include "JobRunner.h"

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QPlainTextEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;
class PreviewView;
class ClipPlayer;

// The prompt after the active memory rules, and which entries changed it.
struct EffectivePrompt {
    QString prompt;
    QString negativePrompt;
    QStringList appliedRules;
};

class GeneratePage : public QWidget {
    Q_OBJECT
public:
    explicit GeneratePage(JobRunner* runner, QWidget* parent = nullptr);

    // The request the current controls describe (seed randomized first unless locked).
    atelier::GenerateRequest currentRequest();
    void applyParameters(const atelier::GenerationParams& params);
    // Reads an Atelier or A1111 PNG's parameters into the controls; false (with a message) if it has none.
    bool loadParametersFromPng(const QString& path, QString* error = nullptr);
    void setPromptRules(std::function<EffectivePrompt(const QString&, const QString&)> rules);
    void setConceptTokens(const QStringList& tokens);
    // Adds the trained concepts a prompt uses to a request (set by the main window).
    // Best-of-N: ranks a finished batch by the person's taste model (set by the main window; runs on the
    // worker thread) and returns the order, best first, with a caption per item. An item is a picture (one
    // frame) or a clip's frames; a clip is scored by the mean of its frames' features.
    using TasteRanker =
        std::function<void(const QVector<QVector<QImage>>&, std::function<void(QVector<int>, QStringList)>)>;
    void setTasteRanker(TasteRanker ranker) { ranker_ = std::move(ranker); }
    QCheckBox* bestOfNBox() const { return bestOfN_; }
    void setPersonalizer(std::function<void(atelier::GenerateRequest&)> personalize) { personalize_ = std::move(personalize); }

    // A newly loaded model's own defaults (ModelInfo::default_steps / default_guidance) into the controls.
    void useModelDefaults(int steps, double guidance);
    // The model's example prompt (ModelInfo::example_prompt) as the prompt box's hint; empty: none.
    void setExamplePrompt(const QString& example);
    // The motion module's motion words (ModelInfo::motion_phrases) in the Frames box's tooltip: the phrases
    // that give a clip its motion LoRA.
    void setMotionPhrases(const QStringList& phrases);

    PreviewView* liveView() const { return liveView_; }
    ClipPlayer* player() const { return player_; }
    QSpinBox* framesBox() const { return frames_; }
    Gallery* gallery() const { return gallery_; }
    QPlainTextEdit* promptEdit() const { return prompt_; }
    QPushButton* generateButton() const { return generateButton_; }
    QPushButton* cancelButton() const { return cancelButton_; }
    QSpinBox* stepsBox() const { return steps_; }
    QSpinBox* seedBox() const { return seed_; }
    QComboBox* samplerBox() const { return sampler_; }
    QLabel* appliedRulesLabel() const { return appliedRules_; }
    QLabel* travelLabel() const { return travel_; }
    QLabel* motionWordsLabel() const { return motionWords_; }
    int previewsReceived() const { return previewsReceived_; }

public Q_SLOTS:
    void startGeneration();
    // Generates the batch under the current prompt and under `otherPrompt` with the same seeds,
    // then sends the pairs to Compare.
    void comparePrompts(const QString& otherPrompt);
    void cancelGeneration();

Q_SIGNALS:
    // The pictures chosen in the gallery (two or more): a Compare queue of every pair of them.
    void sendToCompare(const QVector<QImage>& images, const QString& prompt);
    // The same seeds under two prompts, pair by pair (left: the current prompt, right: the other).
    void sendPairsToCompare(const QVector<QPair<QImage, QImage>>& pairs, const QString& prompt);
    void imagesGenerated(const QVector<GeneratedImage>& images, const QString& effectivePrompt);
    void statusMessage(const QString& message);

protected:
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dropEvent(QDropEvent* event) override;

private:
    QWidget* buildControls();
    void onBusyChanged(bool busy);
    void onProgress(quint64 ticket, int step, int total, double etaSeconds);
    void onGenerated(quint64 ticket, const QVector<GeneratedImage>& images);
    void updateAppliedRules();
    void updateTravel();  // what the prompt's keyframes (prompt travel) will do, or what is wrong with them
    void updateMotionWords();  // which of the module's motion words a clip's prompt holds
    bool isMine(quint64 ticket) const {
        return ticket && (ticket == ticket_ || ticket == promptATicket_ || ticket == promptBTicket_);
    }

    JobRunner* runner_;
    quint64 ticket_ = 0;  // the job this page started last
    quint64 promptATicket_ = 0, promptBTicket_ = 0;
    QVector<QImage> promptAImages_, promptBImages_;
    QString promptPairLabel_;
    QPlainTextEdit* prompt_ = nullptr;
    QPlainTextEdit* negative_ = nullptr;
    QComboBox* sampler_ = nullptr;
    QSpinBox* steps_ = nullptr;
    QDoubleSpinBox* guidance_ = nullptr;
    QSpinBox* seed_ = nullptr;
    QCheckBox* lockSeed_ = nullptr;
    QSpinBox* width_ = nullptr;
    QSpinBox* height_ = nullptr;
    QSpinBox* batch_ = nullptr;
    QSpinBox* frames_ = nullptr;
    QDoubleSpinBox* fps_ = nullptr;
    ClipPlayer* player_ = nullptr;
    QPushButton* generateButton_ = nullptr;
    QPushButton* cancelButton_ = nullptr;
    QProgressBar* progress_ = nullptr;
    QLabel* eta_ = nullptr;
    QLabel* appliedRules_ = nullptr;
    QLabel* travel_ = nullptr;
    QLabel* motionWords_ = nullptr;
    std::vector<std::string> motionPhrases_;  // ModelInfo::motion_phrases of the loaded module
    PreviewView* liveView_ = nullptr;
    Gallery* gallery_ = nullptr;
    std::function<EffectivePrompt(const QString&, const QString&)> rules_;
    std::function<void(atelier::GenerateRequest&)> personalize_;
    TasteRanker ranker_;
    QCheckBox* bestOfN_ = nullptr;
    EffectivePrompt lastEffective_;
    qint64 runStartedMs_ = 0;
    int previewsReceived_ = 0;
};
