// Gallery: a grid of result thumbnails with a favourite star, parameters as tooltip, and
// actions (copy parameters, save PNG, send to Compare, show the effective prompt) via context menu and keys.
#pragma once
#include <QImage>
#include <QListWidget>
#include <QVariant>

struct GalleryItem {
    QImage image;
    QString caption;          // one line under the thumbnail
    QString parametersText;   // A1111-style parameters (tooltip, copy, PNG chunk)
    QString effectivePrompt;  // the prompt after memory rules
    bool favourite = false;
    QVariant payload;         // owner's data (e.g. a store id)
};

class Gallery : public QListWidget {
    Q_OBJECT
public:
    explicit Gallery(QWidget* parent = nullptr);

    int addItem(const GalleryItem& item);  // returns its index
    const GalleryItem& entry(int index) const { return items_.at(index); }
    int itemCount() const { return int(items_.size()); }
    QList<int> selectedRows() const;
    void setFavourite(int index, bool favourite);
    void clearItems();

Q_SIGNALS:
    void copyParametersRequested(int index);
    void savePngRequested(int index);
    void sendToCompareRequested(const QList<int>& indexes);
    void showEffectivePromptRequested(int index);
    void useParametersRequested(int index);
    void favouriteChanged(int index, bool favourite);
    void imageActivated(int index);

protected:
    void contextMenuEvent(QContextMenuEvent* event) override;
    void keyPressEvent(QKeyEvent* event) override;

private:
    void refreshItem(int index);
    QVector<GalleryItem> items_;
};
