// TastePanel: what the studio learned about the current person's taste — held-out accuracy on their
// own choices, the learning curve, the learned directions (a chart), the prototype mixture — and the
// buttons that refit it and write it into the memory. Fitting runs on the engine's worker thread.
#pragma once
#include <QWidget>
#include <memory>

#include "JobRunner.h"

class BarChart;
class LineChart;
class QLabel;
class QPushButton;

class TastePanel : public QWidget {
    Q_OBJECT
public:
    explicit TastePanel(JobRunner* runner, QWidget* parent = nullptr);
    // The worker opens its own connection to this data directory (a Store is one thread's).
    void setProfile(const QString& dataDir, int64_t profileId);

    // What the last fit found (shown by the panel).
    struct Summary {
        int choices = 0;
        double heldoutAccuracy = 0;
        QVector<QPointF> learningCurve;  // (choices, accuracy)
        QStringList directions;          // "prefers warm palettes  +0.80 ± 0.20"
        QVector<double> weights, errors;
        QStringList mixture;             // "prototype 1: 35%", ..., "you: 40%"
        QStringList memoryChanges;
    };
    const Summary& summary() const { return summary_; }
    QLabel* statusLabel() const { return status_; }

public Q_SLOTS:
    void learn();            // refit from the stored choices and save the model
    void writeToMemory();    // refit, then write the strongest directions as memory entries

Q_SIGNALS:
    void learned();
    void memoryChanged();

private:
    void run(bool writeMemory);
    void show();

    JobRunner* runner_;
    QString dataDir_;
    int64_t profileId_ = 0;
    Summary summary_;
    QLabel* status_ = nullptr;
    QLabel* accuracy_ = nullptr;
    QLabel* mixture_ = nullptr;
    BarChart* directions_ = nullptr;
    LineChart* curve_ = nullptr;
    QPushButton* learnButton_ = nullptr;
    QPushButton* writeButton_ = nullptr;
};
