package loop

import (
	"reflect"
	"syscall"

	"github.com/lesismal/nbio"
)

// pollFD returns the epoll descriptor of eng's only poller, or -1. nbio does not export it: it is read
// by reflection from nbio v1.6.x's Engine.pollers[0].epfd (poller_epoll.go); a later nbio without
// that field makes Detach return ErrDetachUnsupported rather than fail in another way.
func pollFD(eng *nbio.Engine) int {
	v := reflect.ValueOf(eng).Elem().FieldByName("pollers")
	if !v.IsValid() || v.Kind() != reflect.Slice || v.Len() != 1 {
		return -1
	}
	p := v.Index(0)
	if p.Kind() == reflect.Pointer {
		if p.IsNil() {
			return -1
		}
		p = p.Elem()
	}
	if p.Kind() != reflect.Struct {
		return -1
	}
	f := p.FieldByName("epfd")
	if !f.IsValid() || f.Kind() != reflect.Int {
		return -1
	}
	return int(f.Int())
}

func epollDelete(epfd, fd int) error {
	return syscall.EpollCtl(epfd, syscall.EPOLL_CTL_DEL, fd, &syscall.EpollEvent{})
}
