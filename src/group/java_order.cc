#include "group/java_order.h"

#include <algorithm>
#include <numeric>

#include "brook/detail/check.h"

namespace brook::group {
namespace {

// Decodes UTF-8 into UTF-16 code units, replacing each invalid byte with U+FFFD as Java's decoder
// does for malformed input.
std::u16string ToUtf16(std::string_view s) {
  std::u16string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    auto b0 = static_cast<unsigned char>(s[i]);
    uint32_t cp = 0xFFFD;
    size_t len = 1;
    auto cont = [&](size_t k) {
      return i + k < s.size() && (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
    };
    auto bits = [&](size_t k) { return static_cast<uint32_t>(s[i + k]) & 0x3F; };
    if (b0 < 0x80) {
      cp = b0;
    } else if (b0 >= 0xC2 && b0 < 0xE0 && cont(1)) {
      cp = ((b0 & 0x1Fu) << 6) | bits(1);
      len = 2;
    } else if (b0 >= 0xE0 && b0 < 0xF0 && cont(1) && cont(2)) {
      cp = ((b0 & 0x0Fu) << 12) | (bits(1) << 6) | bits(2);
      len = 3;
      if (cp < 0x800) cp = 0xFFFD, len = 1;
    } else if (b0 >= 0xF0 && b0 < 0xF5 && cont(1) && cont(2) && cont(3)) {
      cp = ((b0 & 0x07u) << 18) | (bits(1) << 12) | (bits(2) << 6) | bits(3);
      len = 4;
      if (cp < 0x10000 || cp > 0x10FFFF) cp = 0xFFFD, len = 1;
    }
    if (cp >= 0x10000) {
      cp -= 0x10000;
      out.push_back(static_cast<char16_t>(0xD800 + (cp >> 10)));
      out.push_back(static_cast<char16_t>(0xDC00 + (cp & 0x3FF)));
    } else {
      out.push_back(static_cast<char16_t>(cp));
    }
    i += len;
  }
  return out;
}

}  // namespace

int JavaCompare(std::string_view a, std::string_view b) {
  size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  if (i == n) return a.size() < b.size() ? -1 : (a.size() > b.size() ? 1 : 0);
  auto x = static_cast<unsigned char>(a[i]);
  auto y = static_cast<unsigned char>(b[i]);
  // Lead bytes EE/EF start U+E000..U+FFFF (one UTF-16 unit at or above 0xE000); F0..F4 start a
  // supplementary character (a surrogate pair from 0xD800), which UTF-16 order puts first.
  bool x_high_bmp = x == 0xEE || x == 0xEF;
  bool y_high_bmp = y == 0xEE || y == 0xEF;
  if (x_high_bmp && y >= 0xF0) return 1;
  if (y_high_bmp && x >= 0xF0) return -1;
  return x < y ? -1 : 1;
}

int32_t JavaStringHash(std::string_view s) {
  uint32_t h = 0;
  for (char16_t c : ToUtf16(s)) h = 31 * h + c;
  return static_cast<int32_t>(h);
}

int32_t JavaTopicPartitionHash(const TopicPartition& tp) {
  uint32_t result = 31u + static_cast<uint32_t>(tp.partition);
  result = 31u * result + static_cast<uint32_t>(JavaStringHash(tp.topic));
  return static_cast<int32_t>(result);
}

size_t JavaTableCapacity(size_t size) {
  size_t capacity = 16;
  while (size > capacity / 4 * 3) capacity *= 2;
  return capacity;
}

std::vector<size_t> JavaHashMapOrder(const std::vector<std::string>& keys_in_insertion_order) {
  size_t capacity = JavaTableCapacity(keys_in_insertion_order.size());
  std::vector<size_t> buckets(keys_in_insertion_order.size());
  for (size_t i = 0; i < buckets.size(); ++i) {
    buckets[i] = JavaBucket(JavaStringHash(keys_in_insertion_order[i]), capacity);
  }
  std::vector<size_t> order(buckets.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t x, size_t y) { return buckets[x] < buckets[y]; });
  return order;
}

bool JavaPartitionSet::Add(const TopicPartition& tp) {
  for (const Entry& e : entries_) {
    if (e.tp == tp) return false;
  }
  entries_.push_back({tp, JavaTopicPartitionHash(tp), next_seq_++});
  if (entries_.size() > capacity_ / 4 * 3) capacity_ *= 2;
  return true;
}

bool JavaPartitionSet::Remove(const TopicPartition& tp) {
  auto it =
      std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.tp == tp; });
  if (it == entries_.end()) return false;
  entries_.erase(it);
  return true;
}

const TopicPartition& JavaPartitionSet::First() const {
  BROOK_CHECK(!entries_.empty());
  const Entry* best = &entries_.front();
  for (const Entry& e : entries_) {
    size_t b = JavaBucket(e.hash, capacity_);
    size_t bb = JavaBucket(best->hash, capacity_);
    if (b < bb || (b == bb && e.seq < best->seq)) best = &e;
  }
  return best->tp;
}

}  // namespace brook::group
