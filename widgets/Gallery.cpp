#include "Gallery.h"

#include <QContextMenuEvent>
#include <QKeyEvent>
#include <QMenu>
#include <QPainter>

namespace {
constexpr int kThumb = 128;

QIcon thumbnailIcon(const QImage& image, bool favourite) {
    QPixmap canvas(kThumb, kThumb);
    canvas.fill(QColor(30, 30, 34));
    QPainter painter(&canvas);
    const QImage scaled = image.scaled(kThumb, kThumb, Qt::KeepAspectRatio,
                                       image.width() < kThumb ? Qt::FastTransformation : Qt::SmoothTransformation);
    painter.drawImage((kThumb - scaled.width()) / 2, (kThumb - scaled.height()) / 2, scaled);
    if (favourite) {
        QFont font = painter.font();
        font.setPixelSize(22);
        painter.setFont(font);
        painter.setPen(QColor(255, 200, 40));
        painter.drawText(QRect(0, 2, kThumb - 6, 26), Qt::AlignRight | Qt::AlignTop, QString(QChar(0x2605)));
    }
    return QIcon(canvas);
}
}  // namespace

Gallery::Gallery(QWidget* parent) : QListWidget(parent) {
    setViewMode(QListView::IconMode);
    setIconSize(QSize(kThumb, kThumb));
    setResizeMode(QListView::Adjust);
    setMovement(QListView::Static);
    setSpacing(6);
    setUniformItemSizes(true);
    setSelectionMode(QAbstractItemView::ExtendedSelection);
    setWordWrap(true);
    connect(this, &QListWidget::itemActivated, this, [this](QListWidgetItem* item) { Q_EMIT imageActivated(row(item)); });
}

int Gallery::addItem(const GalleryItem& item) {
    items_.push_back(item);
    auto* widgetItem = new QListWidgetItem;
    QListWidget::addItem(widgetItem);
    refreshItem(int(items_.size()) - 1);
    return int(items_.size()) - 1;
}

void Gallery::refreshItem(int index) {
    const GalleryItem& item = items_[index];
    QListWidgetItem* widgetItem = QListWidget::item(index);
    widgetItem->setIcon(thumbnailIcon(item.image, item.favourite));
    widgetItem->setText(item.caption);
    widgetItem->setToolTip(item.parametersText);
    widgetItem->setSizeHint(QSize(kThumb + 12, kThumb + 34));
}

QList<int> Gallery::selectedRows() const {
    QList<int> rows;
    for (QListWidgetItem* item : selectedItems()) rows.push_back(row(item));
    std::sort(rows.begin(), rows.end());
    return rows;
}

void Gallery::setFavourite(int index, bool favourite) {
    if (index < 0 || index >= items_.size() || items_[index].favourite == favourite) return;
    items_[index].favourite = favourite;
    refreshItem(index);
    Q_EMIT favouriteChanged(index, favourite);
}

void Gallery::clearItems() {
    items_.clear();
    clear();
}

void Gallery::contextMenuEvent(QContextMenuEvent* event) {
    QListWidgetItem* under = itemAt(event->pos());
    if (!under) return;
    if (!under->isSelected()) setCurrentItem(under);
    const int index = row(under);
    QMenu menu(this);
    menu.addAction(items_[index].favourite ? tr("Remove star") : tr("Star (F)"), this,
                   [this, index] { setFavourite(index, !items_[index].favourite); });
    menu.addAction(tr("Use these parameters"), this, [this, index] { Q_EMIT useParametersRequested(index); });
    menu.addAction(tr("Copy parameters (Ctrl+C)"), this, [this, index] { Q_EMIT copyParametersRequested(index); });
    menu.addAction(tr("Save PNG… (Ctrl+S)"), this, [this, index] { Q_EMIT savePngRequested(index); });
    menu.addAction(tr("Show effective prompt"), this, [this, index] { Q_EMIT showEffectivePromptRequested(index); });
    const qsizetype n = selectedRows().size();
    QAction* compare = menu.addAction(n >= 2 ? tr("Send %1 to Compare (%2 pairs)").arg(n).arg(n * (n - 1) / 2)
                                             : tr("Send to Compare (select two or more)"),
                                      this, [this] { Q_EMIT sendToCompareRequested(selectedRows()); });
    compare->setEnabled(n >= 2);
    menu.exec(event->globalPos());
}

void Gallery::keyPressEvent(QKeyEvent* event) {
    const int index = currentRow();
    if (index >= 0) {
        if (event->key() == Qt::Key_F && event->modifiers() == Qt::NoModifier) {
            setFavourite(index, !items_[index].favourite);
            return;
        }
        if (event->matches(QKeySequence::Copy)) {
            Q_EMIT copyParametersRequested(index);
            return;
        }
        if (event->matches(QKeySequence::Save)) {
            Q_EMIT savePngRequested(index);
            return;
        }
    }
    QListWidget::keyPressEvent(event);
}

#include "moc_Gallery.cpp"
