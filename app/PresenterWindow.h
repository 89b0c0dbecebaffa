// PresenterWindow: a full-screen live view for showing generation to an audience. Typing in the
// prompt bar regenerates after a short pause (a new keystroke cancels the job in flight, so the
// newest prompt always wins); step previews crossfade; a Dear ImGui HUD (H) shows timings and
// settings; W cycles single / A-B wipe (personalized vs. base, same seed) / side by side / 2x2 seeds;
// Left/Right in a comparison layout records which side the presenter prefers.
#pragma once
#include <QElapsedTimer>
#include <QTimer>
#include <QWidget>
#include <functional>

#include "GeneratePage.h"
#include "JobRunner.h"
#include "PreviewView.h"
#include "atelier/store.h"

class QLineEdit;

class PresenterWindow : public QWidget {
    Q_OBJECT
public:
    PresenterWindow(JobRunner* runner, QWidget* parent = nullptr);
    ~PresenterWindow() override;

    void setStore(atelier::Store* store, int64_t profileId);
    void setPromptRules(std::function<EffectivePrompt(const QString&, const QString&)> rules);
    void setPersonalizer(std::function<void(atelier::GenerateRequest&)> personalize) { personalize_ = std::move(personalize); }
    void setDebounceMs(int ms) { debounce_.setInterval(ms); }
    int debounceMs() const { return debounce_.interval(); }
    void setModelName(const QString& name);

    PreviewView* view() const { return view_; }
    QLineEdit* promptBar() const { return prompt_; }
    int regenerations() const { return regenerations_; }

    // Timings of the last run, from the end of typing (the debounce firing) on.
    struct Timing {
        double firstPreviewMs = -1;
        double finalImageMs = -1;
        double stepsPerSecond = 0;
    };
    const Timing& lastTiming() const { return timing_; }

public Q_SLOTS:
    void regenerate();
    void captureFrame();

Q_SIGNALS:
    void regenerationStarted(const QString& prompt);
    void finalImageShown();
    void left();

protected:
    void keyPressEvent(QKeyEvent* event) override;
    bool eventFilter(QObject* watched, QEvent* event) override;

private:
    void onPreview(quint64 ticket, int step, const QImage& image);
    void onGenerated(quint64 ticket, const QVector<GeneratedImage>& images);
    void updateHud();
    void recordPick(atelier::Choice choice);
    bool isMine(quint64 ticket) const { return ticket == mainTicket_ || ticket == baseTicket_ || ticket == gridTicket_; }

    JobRunner* runner_;
    PreviewView* view_;
    QLineEdit* prompt_;
    QTimer debounce_;
    QElapsedTimer sinceTyping_;
    QElapsedTimer sinceFirstStep_;
    std::function<EffectivePrompt(const QString&, const QString&)> rules_;
    std::function<void(atelier::GenerateRequest&)> personalize_;
    atelier::Store* store_ = nullptr;
    int64_t profileId_ = 0;
    quint64 mainTicket_ = 0, baseTicket_ = 0, gridTicket_ = 0;
    QImage personalized_, base_;
    QString effectivePrompt_;
    int regenerations_ = 0;
    int stepsDone_ = 0;
    Timing timing_;
    int imagesShown_ = 0;
    QElapsedTimer sinceOpen_;
};
