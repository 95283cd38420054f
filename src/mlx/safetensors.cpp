// safetensors files: an ordered name → array map with string metadata.
//
// MLX's loader is lazy (tensor data is read when first evaluated), which keeps a
// multi-GB checkpoint from being held twice, but it trusts the header.  We read
// and check the header ourselves first, so a truncated or corrupt file fails at
// load time with a message naming the file and the tensor, not later inside a
// forward pass.
#include <cjson/cJSON.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <sys/stat.h>
#include <unistd.h>

#include "mlx/internal.hpp"
#include "util/fs.h"

using namespace mxb;

struct mx_tensors {
    std::vector<std::pair<std::string, mx_array>> items;  // handles owned by the map (free-standing)
    std::vector<std::pair<std::string, std::string>> meta;
};

/* ----------------------------------------------------------------- map ---- */

static mx_array owned_ref(const mx::array &a) {
    mx_array h = wrap(a);
    mx_keep(h, nullptr);
    return h;
}

int mx_tensors_new(mx_tensors **out) {
    return guard("mx_tensors_new", {}, [&] { *out = new mx_tensors(); });
}

void mx_tensors_free(mx_tensors *t) {
    if (!t) return;
    for (auto &it : t->items) mx_free(it.second);
    delete t;
}

size_t mx_tensors_count(const mx_tensors *t) { return t ? t->items.size() : 0; }

const char *mx_tensors_name(const mx_tensors *t, size_t i) {
    return t && i < t->items.size() ? t->items[i].first.c_str() : nullptr;
}

mx_array mx_tensors_at(const mx_tensors *t, size_t i) { return t && i < t->items.size() ? t->items[i].second : nullptr; }

mx_array mx_tensors_get(const mx_tensors *t, const char *name) {
    if (!t || !name) return nullptr;
    for (auto &it : t->items)
        if (it.first == name) return it.second;
    return nullptr;
}

int mx_tensors_set(mx_tensors *t, const char *name, mx_array a) {
    return guard("mx_tensors_set", {a}, [&] {
        if (!t || !name) throw std::invalid_argument("NULL map or name");
        mx_array h = owned_ref(get(a));
        for (auto &it : t->items)
            if (it.first == name) {
                mx_free(it.second);
                it.second = h;
                return;
            }
        t->items.emplace_back(name, h);
    });
}

int mx_tensors_remove(mx_tensors *t, const char *name) {
    if (t && name)
        for (size_t i = 0; i < t->items.size(); i++)
            if (t->items[i].first == name) {
                mx_free(t->items[i].second);
                t->items.erase(t->items.begin() + (long)i);
                return 0;
            }
    return vt_err("mx_tensors_remove: no tensor named '%s'", name ? name : "(null)");
}

size_t mx_tensors_meta_count(const mx_tensors *t) { return t ? t->meta.size() : 0; }

const char *mx_tensors_meta_key(const mx_tensors *t, size_t i) {
    return t && i < t->meta.size() ? t->meta[i].first.c_str() : nullptr;
}

const char *mx_tensors_meta_value(const mx_tensors *t, size_t i) {
    return t && i < t->meta.size() ? t->meta[i].second.c_str() : nullptr;
}

const char *mx_tensors_meta_get(const mx_tensors *t, const char *key) {
    if (!t || !key) return nullptr;
    for (auto &m : t->meta)
        if (m.first == key) return m.second.c_str();
    return nullptr;
}

int mx_tensors_meta_set(mx_tensors *t, const char *key, const char *value) {
    return guard("mx_tensors_meta_set", {}, [&] {
        if (!t || !key || !value) throw std::invalid_argument("NULL map, key or value");
        for (auto &m : t->meta)
            if (m.first == key) {
                m.second = value;
                return;
            }
        t->meta.emplace_back(key, value);
    });
}

/* ------------------------------------------------------ header checks ---- */

struct HeaderEntry {
    std::string name;
    size_t begin;
};

static size_t dtype_bytes(const std::string &code) {
    static const std::map<std::string, size_t> sizes = {
        {"BOOL", 1}, {"U8", 1}, {"I8", 1},  {"U16", 2}, {"I16", 2}, {"F16", 2}, {"BF16", 2},
        {"U32", 4},  {"I32", 4}, {"F32", 4}, {"U64", 8}, {"I64", 8}, {"F64", 8},
    };
    auto it = sizes.find(code);
    return it == sizes.end() ? 0 : it->second;
}

[[noreturn]] static void bad(const std::string &path, const std::string &why) {
    throw std::runtime_error(path + ": " + why);
}

// Checks the header against the file size; returns the tensor names in file order.
static std::vector<HeaderEntry> check_header(const std::string &path) {
    struct stat st;
    if (stat(path.c_str(), &st) != 0) bad(path, "no such file");
    if (!S_ISREG(st.st_mode)) bad(path, "not a regular file");
    size_t file_size = (size_t)st.st_size;
    std::ifstream f(path, std::ios::binary);
    if (!f) bad(path, "cannot open");
    unsigned char len_bytes[8];
    if (file_size < 8 || !f.read((char *)len_bytes, 8)) bad(path, "truncated: shorter than the 8-byte header length");
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; i--) header_len = (header_len << 8) | len_bytes[i];
    if (header_len > file_size - 8 || header_len > (100u << 20))
        bad(path, "corrupt: header length " + std::to_string(header_len) + " exceeds the file (" +
                      std::to_string(file_size) + " bytes)");
    std::string header(header_len, '\0');
    if (!f.read(header.data(), (std::streamsize)header_len)) bad(path, "truncated header");
    std::unique_ptr<cJSON, void (*)(cJSON *)> root(cJSON_ParseWithLength(header.data(), header.size()), cJSON_Delete);
    if (!root || !cJSON_IsObject(root.get())) bad(path, "corrupt: the header is not a JSON object");
    size_t data_size = file_size - 8 - header_len;
    std::vector<HeaderEntry> entries;
    for (cJSON *t = root->child; t; t = t->next) {
        std::string name = t->string ? t->string : "";
        if (name == "__metadata__") continue;
        cJSON *dtype = cJSON_GetObjectItem(t, "dtype"), *shape = cJSON_GetObjectItem(t, "shape"),
              *offs = cJSON_GetObjectItem(t, "data_offsets");
        if (!cJSON_IsString(dtype) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2)
            bad(path, "tensor '" + name + "': header entry needs dtype, shape and data_offsets");
        size_t esize = dtype_bytes(dtype->valuestring);
        if (!esize) bad(path, "tensor '" + name + "': unsupported dtype " + dtype->valuestring);
        size_t count = 1;
        for (cJSON *d = shape->child; d; d = d->next) {
            if (!cJSON_IsNumber(d) || d->valuedouble < 0) bad(path, "tensor '" + name + "': bad shape");
            count *= (size_t)d->valuedouble;
        }
        double b = cJSON_GetArrayItem(offs, 0)->valuedouble, e = cJSON_GetArrayItem(offs, 1)->valuedouble;
        if (b < 0 || e < b) bad(path, "tensor '" + name + "': bad data_offsets");
        if ((size_t)e - (size_t)b != count * esize)
            bad(path, "tensor '" + name + "': data_offsets span " + std::to_string((size_t)e - (size_t)b) +
                          " bytes, dtype and shape need " + std::to_string(count * esize));
        if ((size_t)e > data_size)
            bad(path, "truncated: tensor '" + name + "' ends at byte " + std::to_string((size_t)e) +
                          " of the data, which has only " + std::to_string(data_size));
        entries.push_back({name, (size_t)b});
    }
    std::stable_sort(entries.begin(), entries.end(),
                     [](const HeaderEntry &x, const HeaderEntry &y) { return x.begin < y.begin; });
    return entries;
}

/* ------------------------------------------------------------ load/save ---- */

int mx_load_safetensors(mx_tensors **out, const char *path) {
    return guard("mx_load_safetensors", {}, [&] {
        if (!path) throw std::invalid_argument("NULL path");
        std::vector<HeaderEntry> order = check_header(path);
        auto [arrays, metadata] = mx::load_safetensors(std::string(path), mx::Device::cpu);
        auto t = std::make_unique<mx_tensors>();
        for (const HeaderEntry &e : order) {
            auto it = arrays.find(e.name);
            if (it == arrays.end()) bad(path, "tensor '" + e.name + "' missing after load");
            t->items.emplace_back(e.name, owned_ref(it->second));
        }
        for (auto &m : metadata) t->meta.emplace_back(m.first, m.second);
        std::sort(t->meta.begin(), t->meta.end());
        *out = t.release();
    });
}

int mx_save_safetensors(const char *path, const mx_tensors *t) {
    return guard("mx_save_safetensors", {}, [&] {
        if (!path || !t) throw std::invalid_argument("NULL path or map");
        std::unordered_map<std::string, mx::array> arrays;
        for (auto &it : t->items) arrays.emplace(it.first, it.second->value);
        std::unordered_map<std::string, std::string> meta(t->meta.begin(), t->meta.end());
        // Written under a temporary name and renamed: a reader never sees half a file.
        // (MLX appends ".safetensors" to a name that lacks it, so the temporary name keeps that suffix.)
        std::string tmp = std::string(path) + ".tmp-" + std::to_string(getpid()) + ".safetensors";
        mx::save_safetensors(tmp, arrays, meta);
        if (vt_fsync_path(tmp.c_str()) != 0 || std::rename(tmp.c_str(), path) != 0) {
            std::remove(tmp.c_str());
            throw std::runtime_error(std::string(path) + ": cannot write the file in place");
        }
    });
}
