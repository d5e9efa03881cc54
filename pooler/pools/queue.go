package pools

import "slices"

// queue is a first-in, first-out line that reuses its array: once it has grown to the longest line
// seen, joining and leaving allocate nothing. Vacated slots are cleared, so that the array keeps no
// waiter of a past burst alive.
type queue[T comparable] struct {
	items []T // items[head:] are in line, oldest first
	head  int
}

func (q *queue[T]) len() int { return len(q.items) - q.head }

func (q *queue[T]) push(x T) {
	if len(q.items) == cap(q.items) && q.head > 0 { // room at the front: move the line down
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	q.items = append(q.items, x)
}

// pushFront puts x at the head of the line.
func (q *queue[T]) pushFront(x T) {
	if q.head > 0 {
		q.head--
		q.items[q.head] = x
		return
	}
	q.items = slices.Insert(q.items, 0, x)
}

// pop takes the oldest out of line; the line is not empty.
func (q *queue[T]) pop() T {
	var zero T
	x := q.items[q.head]
	q.items[q.head] = zero
	q.head++
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	}
	return x
}

// remove takes x out of line wherever it is, and reports whether it was there.
func (q *queue[T]) remove(x T) bool {
	i := slices.Index(q.items[q.head:], x)
	if i < 0 {
		return false
	}
	q.items = slices.Delete(q.items, q.head+i, q.head+i+1) // zeroes the vacated slot
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	}
	return true
}
