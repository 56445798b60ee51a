// An allocator whose value-less construct() default-initializes: a vector<std::byte> using it
// grows with resize() without zeroing bytes that are about to be overwritten.
#ifndef BROOK_DETAIL_DEFAULT_INIT_ALLOCATOR_H_
#define BROOK_DETAIL_DEFAULT_INIT_ALLOCATOR_H_

#include <memory>
#include <new>
#include <utility>

namespace brook::detail {

template <typename T>
class DefaultInitAllocator : public std::allocator<T> {
 public:
  template <typename U>
  struct rebind {
    using other = DefaultInitAllocator<U>;
  };
  using std::allocator<T>::allocator;

  template <typename U>
  void construct(U* p) {
    ::new (static_cast<void*>(p)) U;
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};

}  // namespace brook::detail

#endif  // BROOK_DETAIL_DEFAULT_INIT_ALLOCATOR_H_
