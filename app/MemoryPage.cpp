#include "MemoryPage.h"

#include <QComboBox>
#include <QDateTime>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QInputDialog>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QMessageBox>
#include <QPainter>
#include <QPushButton>
#include <QShortcut>
#include <QSplitter>
#include <QTableView>
#include <QUndoCommand>
#include <QUndoStack>
#include <QVBoxLayout>
#include <functional>

#include "ImageConvert.h"

namespace {

const char* const kKinds[] = {"like", "dislike", "rule", "style", "concept"};

QString when(int64_t ms) { return QDateTime::fromMSecsSinceEpoch(ms).toString(QStringLiteral("yyyy-MM-dd hh:mm")); }

// One undoable change of the memory; both directions go through the store, which writes the history.
class MemoryCommand : public QUndoCommand {
public:
    MemoryCommand(const QString& text, std::function<void()> redo, std::function<void()> undo,
                  std::function<void()> after)
        : QUndoCommand(text), redo_(std::move(redo)), undo_(std::move(undo)), after_(std::move(after)) {}
    void redo() override { run(redo_); }
    void undo() override { run(undo_); }

private:
    void run(const std::function<void()>& action) {
        try {
            action();
        } catch (const std::exception& e) {
            QMessageBox::warning(nullptr, QObject::tr("Memory"), QString::fromStdString(e.what()));
        }
        after_();
    }
    std::function<void()> redo_, undo_, after_;
};

}  // namespace

// ---- MemoryModel --------------------------------------------------------------------------------

MemoryModel::MemoryModel(QUndoStack* undo, QObject* parent) : QAbstractTableModel(parent), undo_(undo) {}

void MemoryModel::setStore(atelier::Store* store, int64_t profileId) {
    store_ = store;
    profileId_ = profileId;
    reload();
}

void MemoryModel::setFilter(const QString& kind, const QString& search) {
    kind_ = kind;
    search_ = search;
    reload();
}

void MemoryModel::reload() {
    beginResetModel();
    entries_.clear();
    if (store_ && profileId_) {
        atelier::MemoryFilter filter;
        filter.profile_id = profileId_;
        filter.kind = kind_.toStdString();
        filter.search = search_.toStdString();
        entries_ = store_->list_memory(filter);
    }
    endResetModel();
}

int MemoryModel::rowOf(int64_t entryId) const {
    for (size_t i = 0; i < entries_.size(); ++i)
        if (entries_[i].id == entryId) return int(i);
    return -1;
}

int MemoryModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : int(entries_.size()); }
int MemoryModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : ColumnCount; }

QVariant MemoryModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
    static const char* names[] = {"Memory", "Kind", "Weight", "Active", "Source", "Updated"};
    return tr(names[section]);
}

Qt::ItemFlags MemoryModel::flags(const QModelIndex& index) const {
    Qt::ItemFlags f = QAbstractTableModel::flags(index);
    if (index.column() == Active) return f | Qt::ItemIsUserCheckable;
    if (index.column() == Text || index.column() == Kind || index.column() == Weight) return f | Qt::ItemIsEditable;
    return f;
}

QVariant MemoryModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid() || index.row() >= int(entries_.size())) return {};
    const atelier::MemoryEntry& e = entries_[size_t(index.row())];
    if (role == Qt::CheckStateRole && index.column() == Active) return e.active ? Qt::Checked : Qt::Unchecked;
    if (role == Qt::ForegroundRole && !e.active) return QColor(130, 130, 140);
    if (role == Qt::ToolTipRole && index.column() == Text) return QString::fromStdString(e.text);
    if (role != Qt::DisplayRole && role != Qt::EditRole) return {};
    switch (index.column()) {
        case Text: return QString::fromStdString(e.text);
        case Kind: return QString::fromStdString(e.kind);
        case Weight: return role == Qt::EditRole ? QVariant(e.weight) : QVariant(QString::number(e.weight, 'f', 2));
        case Source:
            if (e.source == "learned") return tr("learned from %1 choices").arg(e.source_count);
            return QString::fromStdString(e.source);
        case Updated: return when(e.updated_ms);
        default: return {};
    }
}

bool MemoryModel::setData(const QModelIndex& index, const QVariant& value, int role) {
    if (!store_ || !index.isValid()) return false;
    const atelier::MemoryEntry before = entries_[size_t(index.row())];
    atelier::MemoryEntry after = before;
    if (index.column() == Active && role == Qt::CheckStateRole) {
        after.active = value.toInt() == Qt::Checked;
    } else if (role == Qt::EditRole && index.column() == Text) {
        after.text = value.toString().trimmed().toStdString();
        if (after.text.empty()) return false;
    } else if (role == Qt::EditRole && index.column() == Kind) {
        after.kind = value.toString().trimmed().toLower().toStdString();
        if (std::find(std::begin(kKinds), std::end(kKinds), after.kind) == std::end(kKinds)) return false;
    } else if (role == Qt::EditRole && index.column() == Weight) {
        bool ok = false;
        after.weight = value.toDouble(&ok);
        if (!ok) return false;
    } else {
        return false;
    }
    if (after.text == before.text && after.kind == before.kind && after.weight == before.weight &&
        after.active == before.active)
        return false;
    atelier::Store* store = store_;
    const int64_t profile = profileId_;
    undo_->push(new MemoryCommand(
        tr("Edit \"%1\"").arg(QString::fromStdString(before.text)), [store, after] { store->update_memory(after); },
        [store, profile, id = before.id] { store->undo_memory(profile, id); }, [this] { reload(); }));
    return true;
}

// ---- MemoryPage ---------------------------------------------------------------------------------

MemoryPage::MemoryPage(QWidget* parent) : QWidget(parent) {
    undo_ = new QUndoStack(this);
    model_ = new MemoryModel(undo_, this);
    connect(undo_, &QUndoStack::indexChanged, this, [this] {
        showSelected();
        Q_EMIT memoryChanged();
    });

    auto* layout = new QVBoxLayout(this);
    auto* toolbar = new QHBoxLayout;
    kindFilter_ = new QComboBox;
    kindFilter_->setObjectName(QStringLiteral("kindFilter"));
    kindFilter_->addItem(tr("All kinds"), QString());
    for (const char* kind : kKinds) kindFilter_->addItem(QString::fromLatin1(kind), QString::fromLatin1(kind));
    search_ = new QLineEdit;
    search_->setObjectName(QStringLiteral("memorySearch"));
    search_->setPlaceholderText(tr("Search the memory…"));
    search_->setClearButtonEnabled(true);
    auto applyFilter = [this] { model_->setFilter(kindFilter_->currentData().toString(), search_->text()); };
    connect(kindFilter_, qOverload<int>(&QComboBox::currentIndexChanged), this, applyFilter);
    connect(search_, &QLineEdit::textChanged, this, applyFilter);

    auto* add = new QPushButton(tr("Add…"));
    connect(add, &QPushButton::clicked, this, [this] {
        bool ok = false;
        const QString kind = QInputDialog::getItem(this, tr("New memory"), tr("Kind"),
                                                   {QStringLiteral("like"), QStringLiteral("dislike"),
                                                    QStringLiteral("rule"), QStringLiteral("style"),
                                                    QStringLiteral("concept")},
                                                   0, false, &ok);
        if (!ok) return;
        const QString text = QInputDialog::getText(this, tr("New memory"), tr("What should the studio remember?"),
                                                   QLineEdit::Normal, QString(), &ok);
        if (ok && !text.trimmed().isEmpty()) addEntry(kind, text.trimmed());
    });
    auto* remove = new QPushButton(tr("Delete"));
    connect(remove, &QPushButton::clicked, this, [this] {
        const QModelIndex current = table_->currentIndex();
        if (!current.isValid()) return;
        const atelier::MemoryEntry& entry = model_->entryAt(current.row());
        if (QMessageBox::question(this, tr("Delete memory"),
                                  tr("Delete \"%1\"? You can undo this.").arg(QString::fromStdString(entry.text))) ==
            QMessageBox::Yes)
            deleteEntry(entry.id);
    });
    auto* undoButton = new QPushButton(tr("Undo"));
    auto* redoButton = new QPushButton(tr("Redo"));
    connect(undoButton, &QPushButton::clicked, undo_, &QUndoStack::undo);
    connect(redoButton, &QPushButton::clicked, undo_, &QUndoStack::redo);
    connect(undo_, &QUndoStack::canUndoChanged, undoButton, &QWidget::setEnabled);
    connect(undo_, &QUndoStack::canRedoChanged, redoButton, &QWidget::setEnabled);
    undoButton->setEnabled(false);
    redoButton->setEnabled(false);
    auto* exportButton = new QPushButton(tr("Export…"));
    connect(exportButton, &QPushButton::clicked, this, &MemoryPage::exportMemory);
    auto* importButton = new QPushButton(tr("Import…"));
    connect(importButton, &QPushButton::clicked, this, &MemoryPage::importMemory);
    toolbar->addWidget(kindFilter_);
    toolbar->addWidget(search_, 1);
    for (QPushButton* b : {add, remove, undoButton, redoButton, exportButton, importButton}) toolbar->addWidget(b);
    layout->addLayout(toolbar);

    auto* splitter = new QSplitter;
    table_ = new QTableView;
    table_->setObjectName(QStringLiteral("memoryTable"));
    table_->setModel(model_);
    table_->setSelectionBehavior(QAbstractItemView::SelectRows);
    table_->setSelectionMode(QAbstractItemView::SingleSelection);
    table_->setAlternatingRowColors(true);
    table_->verticalHeader()->hide();
    table_->horizontalHeader()->setSectionResizeMode(MemoryModel::Text, QHeaderView::Stretch);
    table_->setEditTriggers(QAbstractItemView::DoubleClicked | QAbstractItemView::EditKeyPressed |
                            QAbstractItemView::AnyKeyPressed);
    connect(table_->selectionModel(), &QItemSelectionModel::currentRowChanged, this, &MemoryPage::showSelected);
    connect(model_, &QAbstractItemModel::modelReset, this, &MemoryPage::showSelected);
    splitter->addWidget(table_);

    auto* side = new QWidget;
    auto* sideLayout = new QVBoxLayout(side);
    selectedTitle_ = new QLabel;
    selectedTitle_->setObjectName(QStringLiteral("memoryTitle"));
    selectedTitle_->setWordWrap(true);
    selectedTitle_->setStyleSheet(QStringLiteral("font-weight: bold;"));
    provenance_ = new QListWidget;
    provenance_->setObjectName(QStringLiteral("provenance"));
    provenance_->setViewMode(QListView::IconMode);
    provenance_->setIconSize(QSize(132, 64));
    provenance_->setResizeMode(QListView::Adjust);
    provenance_->setMovement(QListView::Static);
    history_ = new QListWidget;
    history_->setObjectName(QStringLiteral("history"));
    sideLayout->addWidget(selectedTitle_);
    sideLayout->addWidget(new QLabel(tr("Where it came from")));
    sideLayout->addWidget(provenance_, 1);
    sideLayout->addWidget(new QLabel(tr("History")));
    sideLayout->addWidget(history_, 1);
    side->setMinimumWidth(320);
    splitter->addWidget(side);
    splitter->setStretchFactor(0, 3);
    splitter->setStretchFactor(1, 2);
    layout->addWidget(splitter, 1);

    auto* undoShortcut = new QShortcut(QKeySequence::Undo, this);
    undoShortcut->setContext(Qt::WidgetWithChildrenShortcut);
    connect(undoShortcut, &QShortcut::activated, undo_, &QUndoStack::undo);
    auto* redoShortcut = new QShortcut(QKeySequence::Redo, this);
    redoShortcut->setContext(Qt::WidgetWithChildrenShortcut);
    connect(redoShortcut, &QShortcut::activated, undo_, &QUndoStack::redo);
    auto* deleteShortcut = new QShortcut(QKeySequence::Delete, table_);
    deleteShortcut->setContext(Qt::WidgetShortcut);
    connect(deleteShortcut, &QShortcut::activated, remove, &QPushButton::click);
}

// The undo stack empties itself when it is destroyed; by then nobody must hear about it.
MemoryPage::~MemoryPage() { undo_->disconnect(this); }

void MemoryPage::setStore(atelier::Store* store, int64_t profileId) {
    store_ = store;
    profileId_ = profileId;
    undo_->clear();
    model_->setStore(store, profileId);
}

void MemoryPage::reload() { model_->reload(); }

int64_t MemoryPage::addEntry(const QString& kind, const QString& text, double weight) {
    if (!store_ || !profileId_) return 0;
    auto id = std::make_shared<int64_t>(0);
    atelier::MemoryEntry entry;
    entry.profile_id = profileId_;
    entry.kind = kind.toStdString();
    entry.text = text.toStdString();
    entry.weight = weight;
    atelier::Store* store = store_;
    const int64_t profile = profileId_;
    undo_->push(new MemoryCommand(
        tr("Add \"%1\"").arg(text),
        [store, entry, id, profile] {
            if (*id == 0) *id = store->add_memory(entry);
            else store->undo_memory(profile, *id);  // redo after undo: revert the undo
        },
        [store, id, profile] { store->undo_memory(profile, *id); }, [this] { model_->reload(); }));
    return *id;
}

void MemoryPage::editEntry(int64_t id, const QString& text, const QString& kind, double weight, bool active) {
    const int row = model_->rowOf(id);
    if (row < 0) return;
    atelier::MemoryEntry after = model_->entryAt(row);
    after.text = text.toStdString();
    after.kind = kind.toStdString();
    after.weight = weight;
    after.active = active;
    atelier::Store* store = store_;
    const int64_t profile = profileId_;
    undo_->push(new MemoryCommand(
        tr("Edit \"%1\"").arg(text), [store, after] { store->update_memory(after); },
        [store, profile, id] { store->undo_memory(profile, id); }, [this] { model_->reload(); }));
}

void MemoryPage::deleteEntry(int64_t id) {
    atelier::Store* store = store_;
    const int64_t profile = profileId_;
    undo_->push(new MemoryCommand(
        tr("Delete"), [store, id] { store->delete_memory(id); },
        [store, profile, id] { store->undo_memory(profile, id); }, [this] { model_->reload(); }));
}

void MemoryPage::showSelected() {
    provenance_->clear();
    history_->clear();
    const QModelIndex current = table_->currentIndex();
    if (!store_ || !current.isValid() || current.row() >= model_->rowCount()) {
        const bool empty = store_ && model_->rowCount() == 0 && search_->text().isEmpty() && kindFilter_->currentIndex() == 0;
        selectedTitle_->setText(empty ? tr("Nothing remembered yet. Add… an entry the next pictures follow (a "
                                           "\u201cstyle\u201d or \u201clike\u201d joins the prompt, a \u201cdislike\u201d "
                                           "the negative prompt), or choose between pictures in Compare: what the Taste "
                                           "tab learns from your choices is written here, to edit or switch off.")
                                      : tr("Select an entry to see where it came from and how it changed."));
        return;
    }
    const atelier::MemoryEntry& entry = model_->entryAt(current.row());
    selectedTitle_->setText(QString::fromStdString(entry.text));
    try {
        const atelier::MemoryProvenance provenance = store_->memory_provenance(entry.id);
        for (const atelier::ProvenanceComparison& c : provenance.comparisons) {
            // Both images of the judged pair side by side; the preferred one framed.
            QImage strip(132, 64, QImage::Format_RGB32);
            strip.fill(QColor(30, 30, 34));
            QPainter painter(&strip);
            const QImage a = toQImage(store_->load_thumbnail(c.left_asset_id)).scaled(62, 62, Qt::KeepAspectRatio);
            const QImage b = toQImage(store_->load_thumbnail(c.right_asset_id)).scaled(62, 62, Qt::KeepAspectRatio);
            painter.drawImage(2, 1, a);
            painter.drawImage(68, 1, b);
            painter.setPen(QPen(QColor(80, 200, 120), 2));
            if (c.choice == atelier::Choice::left) painter.drawRect(1, 0, 64, 63);
            if (c.choice == atelier::Choice::right) painter.drawRect(67, 0, 64, 63);
            painter.end();
            auto* item = new QListWidgetItem(QIcon(QPixmap::fromImage(strip)),
                                             tr("%1 (%2)").arg(QString::fromLatin1(atelier::to_string(c.choice))).arg(c.strength));
            item->setToolTip(QString::fromStdString(c.prompt));
            provenance_->addItem(item);
        }
        for (const atelier::ProvenanceGeneration& g : provenance.generations) {
            auto* item = new QListWidgetItem(QIcon(QPixmap::fromImage(toQImage(store_->load_thumbnail(g.asset_id)))),
                                             tr("generated"));
            item->setToolTip(QString::fromStdString(g.prompt));
            provenance_->addItem(item);
        }
        if (provenance_->count() == 0) provenance_->addItem(tr("written by you"));
        for (const atelier::MemoryHistoryEvent& event : store_->memory_history(entry.id)) {
            QString line = QStringLiteral("%1  %2 by %3").arg(when(event.created_ms), QString::fromStdString(event.event),
                                                              event.actor == atelier::Actor::learner ? tr("learner") : tr("you"));
            if (event.event == "ADD")
                line += QStringLiteral(": \"%1\"").arg(QString::fromStdString(event.new_text));
            else if (event.old_text != event.new_text && !event.old_text.empty())
                line += QStringLiteral(": \"%1\" → \"%2\"").arg(QString::fromStdString(event.old_text),
                                                                  QString::fromStdString(event.new_text));
            else if (event.old_active != event.new_active)
                line += event.new_active ? tr(": activated") : tr(": deactivated");
            else if (event.old_weight != event.new_weight)
                line += QStringLiteral(": weight %1 → %2").arg(event.old_weight).arg(event.new_weight);
            if (event.undone) line += tr(" (undone)");
            history_->addItem(line);
        }
    } catch (const std::exception& e) {
        history_->addItem(QString::fromStdString(e.what()));
    }
}

void MemoryPage::exportMemory() {
    if (!store_) return;
    const QString path = QFileDialog::getSaveFileName(this, tr("Export profile"), QStringLiteral("profile.tar"),
                                                      tr("Bundle (*.tar)"));
    if (path.isEmpty()) return;
    try {
        atelier::ExportOptions options;
        options.path = path.toStdString();
        options.profile_id = profileId_;
        const atelier::ExportReport report = store_->export_data(options);
        Q_EMIT statusMessage(tr("Exported %1 memory entries to %2").arg(report.memory_entries).arg(path));
    } catch (const std::exception& e) {
        QMessageBox::warning(this, tr("Export failed"), QString::fromStdString(e.what()));
    }
}

void MemoryPage::importMemory() {
    if (!store_) return;
    const QString path = QFileDialog::getOpenFileName(this, tr("Import a profile bundle"), QString(),
                                                      tr("Bundles (*.tar *.jsonl *.json)"));
    if (path.isEmpty()) return;
    atelier::ImportOptions options;
    options.path = path.toStdString();
    const atelier::ImportReport report = store_->import_data(options);
    if (!report.ok) {
        QStringList lines;
        for (const atelier::ImportIssue& issue : report.issues)
            lines << QStringLiteral("%1:%2 %3 %4").arg(QString::fromStdString(issue.file)).arg(issue.line)
                         .arg(QString::fromStdString(issue.field), QString::fromStdString(issue.message));
        QMessageBox::warning(this, tr("Nothing was imported"), lines.join(QLatin1Char('\n')));
        return;
    }
    reload();
    Q_EMIT statusMessage(tr("Imported %1 memory entries").arg(report.memory_entries));
}

#include "moc_MemoryPage.cpp"
