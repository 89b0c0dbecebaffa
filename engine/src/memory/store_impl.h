// Store::Impl and helpers shared by the store's translation units (internal).
#pragma once
#include <chrono>
#include <string>

#include "atelier/store.h"
#include "memory/sqlite_db.h"

namespace atelier {

struct Store::Impl {
    StoreOptions options;
    std::string dir;
    Db db;

    Impl(const StoreOptions& o, const std::string& d, const std::string& db_path)
        : options(o), dir(d), db(db_path, o.read_only, o.create) {}

    std::string asset_file(const std::string& sha) const { return dir + "/assets/" + sha.substr(0, 2) + "/" + sha + ".png"; }
    std::string thumb_file(const std::string& sha) const { return dir + "/thumbs/" + sha.substr(0, 2) + "/" + sha + ".png"; }

    // Writes the PNG bytes (and a thumbnail) under their hash, then the row; returns the row.
    AssetInfo store_png(const std::vector<uint8_t>& png, const Image& decoded, const std::string& origin,
                        const std::string& source_name);
    AssetInfo asset_row(int64_t id);
    void refresh_queue_item(int64_t item_id);
    // Exchange helpers live in store_exchange.cpp.
};

inline int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// Rows referencing an asset (used by gc and delete_profile): `a` is the asset table's alias.
inline const char* asset_referenced_sql() {
    return "(EXISTS (SELECT 1 FROM comparisons c WHERE c.left_asset_id = a.id)"
           " OR EXISTS (SELECT 1 FROM comparisons c WHERE c.right_asset_id = a.id)"
           " OR EXISTS (SELECT 1 FROM queue_items q WHERE q.left_asset_id = a.id)"
           " OR EXISTS (SELECT 1 FROM queue_items q WHERE q.right_asset_id = a.id)"
           " OR EXISTS (SELECT 1 FROM generations g WHERE g.asset_id = a.id)"
           " OR EXISTS (SELECT 1 FROM concept_assets x WHERE x.asset_id = a.id))";
}

void require_text_in(const std::string& value, std::initializer_list<const char*> allowed, const std::string& field);

}  // namespace atelier
