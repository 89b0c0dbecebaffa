// ClipPlayer: plays a clip's frames in a PreviewView — play/pause, loop, scrub, frame step, speed.
#pragma once
#include <QImage>
#include <QTimer>
#include <QVector>
#include <QWidget>

class PreviewView;
class QCheckBox;
class QComboBox;
class QLabel;
class QSlider;
class QToolButton;

class ClipPlayer : public QWidget {
    Q_OBJECT
public:
    ClipPlayer(PreviewView* view, QWidget* parent = nullptr);

    void setClip(const QVector<QImage>& frames, double fps);  // starts playing
    void clear();
    bool hasClip() const { return !frames_.isEmpty(); }
    bool isPlaying() const { return timer_.isActive(); }
    int frame() const { return index_; }
    const QVector<QImage>& frames() const { return frames_; }
    double fps() const { return fps_; }

public Q_SLOTS:
    void play();
    void pause();
    void togglePlay();
    void step(int delta);       // frame step (pauses)
    void seek(int frame);
    void setSpeed(double factor);

Q_SIGNALS:
    void frameShown(int frame);

private:
    void show(int frame);
    void advance();

    PreviewView* view_;
    QVector<QImage> frames_;
    double fps_ = 8, speed_ = 1;
    int index_ = 0;
    QTimer timer_;
    QToolButton* playButton_;
    QCheckBox* loop_;
    QSlider* scrub_;
    QComboBox* speedBox_;
    QLabel* position_;
};
