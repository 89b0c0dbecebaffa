// PresenterWindow: a full-screen live view for showing generation to an audience. Typing in the
// prompt bar regenerates after a short pause (a new keystroke cancels the job in flight, so the
// newest prompt always wins); step previews crossfade; a Dear ImGui HUD (H) shows timings and
// settings; W cycles single / A-B wipe (personalized vs. base, same seed) / side by side / 2x2 seeds;
// Left/Right in a comparison layout records which side the presenter prefers; F switches crisp / smooth
// upscaling. C saves the current frame;
// R starts recording the session (every preview and final picture shown) and, pressed again, writes it
// as an MP4 clip to the captures folder.
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
    // The HUD's taste line for the shown picture (A) and, in the comparison layouts, B (may be null).
    using TasteScorer = std::function<QString(const QImage& a, const QImage& b)>;
    void setTasteScorer(TasteScorer scorer) { scorer_ = std::move(scorer); }
    // The HUD's strength sliders: the concepts and LoRAs `request` uses, by name (a concept's token, else
    // the file name), with the strengths the presenter set in `sliders` applied to the request. Returns the
    // sliders for this request (in its order; new ones at their own strength).
    static QVector<QPair<QString, float>> applyStrengths(atelier::GenerateRequest& request,
                                                         const QVector<QPair<QString, float>>& sliders);
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

    // Session recording: the pictures shown from startRecording() on (previews and finals, at most
    // kMaxRecordedFrames), written by stopRecording as GIF/MP4/WebM by the path's extension (empty: an MP4
    // in the captures folder). Returns the path written, or an empty string (nothing recorded, or an
    // error, which the HUD shows).
    static constexpr int kMaxRecordedFrames = 1200;
    bool isRecording() const { return recording_; }
    int recordedFrames() const { return int(recorded_.size()); }

public Q_SLOTS:
    void regenerate();
    void captureFrame();
    void startRecording();
    QString stopRecording(const QString& path = QString());

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
    void showImage(const QImage& image);
    void hudNote(const QString& line);
    bool isMine(quint64 ticket) const { return ticket == mainTicket_ || ticket == baseTicket_ || ticket == gridTicket_; }

    JobRunner* runner_;
    PreviewView* view_;
    QLineEdit* prompt_;
    QTimer debounce_;
    QElapsedTimer sinceTyping_;
    QElapsedTimer sinceFirstStep_;
    std::function<EffectivePrompt(const QString&, const QString&)> rules_;
    std::function<void(atelier::GenerateRequest&)> personalize_;
    TasteScorer scorer_;
    QString tasteLine_;
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
    bool recording_ = false;
    std::vector<atelier::Image> recorded_;
};
