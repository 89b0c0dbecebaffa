#include "ClipPlayer.h"

#include <QCheckBox>
#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QSlider>
#include <QToolButton>

#include "PreviewView.h"

ClipPlayer::ClipPlayer(PreviewView* view, QWidget* parent) : QWidget(parent), view_(view) {
    auto* layout = new QHBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    playButton_ = new QToolButton;
    playButton_->setObjectName(QStringLiteral("playButton"));
    playButton_->setText(tr("Play"));
    connect(playButton_, &QToolButton::clicked, this, &ClipPlayer::togglePlay);
    auto* back = new QToolButton;
    back->setText(QStringLiteral("<"));
    back->setToolTip(tr("Previous frame"));
    connect(back, &QToolButton::clicked, this, [this] { step(-1); });
    auto* forward = new QToolButton;
    forward->setText(QStringLiteral(">"));
    forward->setToolTip(tr("Next frame"));
    connect(forward, &QToolButton::clicked, this, [this] { step(1); });
    scrub_ = new QSlider(Qt::Horizontal);
    scrub_->setObjectName(QStringLiteral("scrub"));
    connect(scrub_, &QSlider::sliderMoved, this, &ClipPlayer::seek);
    loop_ = new QCheckBox(tr("loop"));
    loop_->setChecked(true);
    speedBox_ = new QComboBox;
    for (double s : {0.25, 0.5, 1.0, 2.0}) speedBox_->addItem(QStringLiteral("%1x").arg(s), s);
    speedBox_->setCurrentIndex(2);
    connect(speedBox_, qOverload<int>(&QComboBox::currentIndexChanged), this,
            [this](int i) { setSpeed(speedBox_->itemData(i).toDouble()); });
    position_ = new QLabel;
    position_->setMinimumWidth(70);
    for (QWidget* w : {static_cast<QWidget*>(playButton_), static_cast<QWidget*>(back), static_cast<QWidget*>(forward)})
        layout->addWidget(w);
    layout->addWidget(scrub_, 1);
    layout->addWidget(position_);
    layout->addWidget(loop_);
    layout->addWidget(speedBox_);
    connect(&timer_, &QTimer::timeout, this, &ClipPlayer::advance);
    setVisible(false);
}

void ClipPlayer::setClip(const QVector<QImage>& frames, double fps) {
    frames_ = frames;
    fps_ = fps > 0 ? fps : 8;
    scrub_->setRange(0, std::max(0, int(frames_.size()) - 1));
    setVisible(!frames_.isEmpty());
    view_->setCrossfadeMs(0);  // frames replace each other exactly
    show(0);
    play();
}

void ClipPlayer::clear() {
    pause();
    frames_.clear();
    setVisible(false);
}

void ClipPlayer::play() {
    if (frames_.size() < 2) return;
    timer_.start(int(1000.0 / (fps_ * speed_)));
    playButton_->setText(tr("Pause"));
}

void ClipPlayer::pause() {
    timer_.stop();
    playButton_->setText(tr("Play"));
}

void ClipPlayer::togglePlay() { isPlaying() ? pause() : play(); }

void ClipPlayer::step(int delta) {
    pause();
    if (frames_.isEmpty()) return;
    show((index_ + delta + int(frames_.size())) % int(frames_.size()));
}

void ClipPlayer::seek(int frame) {
    if (frames_.isEmpty()) return;
    show(std::clamp(frame, 0, int(frames_.size()) - 1));
}

void ClipPlayer::setSpeed(double factor) {
    speed_ = factor;
    if (isPlaying()) play();
}

void ClipPlayer::advance() {
    if (index_ + 1 >= frames_.size() && !loop_->isChecked()) {
        pause();
        return;
    }
    show((index_ + 1) % int(frames_.size()));
}

void ClipPlayer::show(int frame) {
    if (frames_.isEmpty()) return;
    index_ = frame;
    view_->setImage(frames_[frame]);
    scrub_->blockSignals(true);
    scrub_->setValue(frame);
    scrub_->blockSignals(false);
    position_->setText(tr("%1 / %2").arg(frame + 1).arg(frames_.size()));
    Q_EMIT frameShown(frame);
}

#include "moc_ClipPlayer.cpp"
