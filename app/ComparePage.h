// ComparePage: judge pairs of images, keyboard only. Left/A and Right/L choose, Up/T tie,
// Down/S skip, 1/2/3 strength, R rationale (Enter returns), Ctrl+Z undo. Each decision is in the
// store before the next pair appears.
#pragma once
#include <QElapsedTimer>
#include <QHash>
#include <QWidget>
#include <optional>

#include "atelier/store.h"

class ImagePane;
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

    QComboBox* queueBox_ = nullptr;
    QLabel* prompt_ = nullptr;
    ImagePane* left_ = nullptr;
    ImagePane* right_ = nullptr;
    QLabel* strengthLabel_ = nullptr;
    QLineEdit* rationale_ = nullptr;
    QProgressBar* progress_ = nullptr;
    QLabel* progressLabel_ = nullptr;
    QLabel* agreementLabel_ = nullptr;
};
