// ComparePage: judge pairs of images, keyboard only. Left/A and Right/L choose, Up/T tie,
// Down/S skip, 1/2/3 strength, R rationale (Enter returns), Ctrl+Z undo. Each decision is in the
// store before the next pair appears. "Learn my taste" replaces the queue's order with the pair of the
// queue's pictures whose answer teaches the profile's reward model most (expected information gain).
#pragma once
#include <QElapsedTimer>
#include <QHash>
#include <QWidget>
#include <memory>
#include <optional>

#include "atelier/store.h"
#include "atelier/taste.h"

class ImagePane;
class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QProgressBar;

class ComparePage : public QWidget {
    Q_OBJECT
public:
    explicit ComparePage(QWidget* parent = nullptr);

    void setStore(atelier::Store* store, int64_t annotatorId);
    void refreshQueues();
    void selectQueue(int64_t queueId);
    int64_t currentQueue() const { return queueId_; }
    const std::optional<atelier::QueuePair>& currentPair() const { return pair_; }
    int pendingStrength() const { return strength_; }
    QLineEdit* rationaleEdit() const { return rationale_; }
    QLabel* progressLabel() const { return progressLabel_; }
    QLabel* agreementLabel() const { return agreementLabel_; }
    // "Learn my taste": pairs chosen among the queue's pictures for what they teach the taste model;
    // the judgements are recorded outside the queue (session "learn my taste").
    void setLearnMode(bool on);
    bool learnMode() const { return learnMode_; }

    // New queues: every pair of the given images (a generation batch), or images paired from a folder.
    int64_t createQueueFromImages(const QString& name, const QVector<QImage>& images, const QString& prompt);
    // A queue of given pairs (e.g. the same seeds under two prompts: left = A, right = B).
    int64_t createQueueFromPairs(const QString& name, const QVector<QPair<QImage, QImage>>& pairs, const QString& prompt);
    int64_t importFolder(const QString& folder);
    // A bundle, Pick-a-Pic CSV/JSONL or Label Studio JSON: all or nothing; returns false with the issues.
    bool importFile(const QString& path, QStringList* issues = nullptr);

public Q_SLOTS:
    void choose(atelier::Choice choice);
    void setStrength(int strength);
    void undo();
    void exportQueue();

Q_SIGNALS:
    void judgementRecorded(int64_t comparisonId);
    void statusMessage(const QString& message);

private:
    void showNextPair();
    void updateStats();
    QImage assetImage(int64_t assetId);
    void flash(atelier::Choice choice);

    atelier::Store* store_ = nullptr;
    int64_t annotatorId_ = 0;
    int64_t queueId_ = 0;
    std::optional<atelier::QueuePair> pair_;
    int strength_ = 0;
    QElapsedTimer shownFor_;
    QHash<int64_t, QImage> decoded_;  // decoded images by asset id
    bool learnMode_ = false;
    std::unique_ptr<atelier::taste::FeatureExtractor> features_;
    std::unique_ptr<atelier::taste::AssetFeatureCache> featureCache_;  // per store

    QComboBox* queueBox_ = nullptr;
    QCheckBox* learnToggle_ = nullptr;
    QLabel* prompt_ = nullptr;
    ImagePane* left_ = nullptr;
    ImagePane* right_ = nullptr;
    QLabel* strengthLabel_ = nullptr;
    QLineEdit* rationale_ = nullptr;
    QProgressBar* progress_ = nullptr;
    QLabel* progressLabel_ = nullptr;
    QLabel* agreementLabel_ = nullptr;
};
