package vrrp

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fileWatcher watches the directories of the track files with inotify
// (a file replaced by a rename is followed, a deleted one reads as 0, as
// in keepalived) and reports each new value.
type fileWatcher struct {
	f    *os.File
	wg   sync.WaitGroup
	once sync.Once
}

type watchedFile struct {
	cfg  TrackFileConfig
	path string // resolved
	wd   int
	last int64
}

// startFileWatcher initialises (init_file), reads and watches files;
// report receives every value change from the watcher goroutine. It
// returns the values read now; a file whose directory does not exist is
// left out (logged), so it has no effect, as keepalived removes it.
func startFileWatcher(files []TrackFileConfig, log *slog.Logger, report func(name string, v int64)) (*fileWatcher, map[string]int64, error) {
	vals := map[string]int64{}
	if len(files) == 0 {
		return nil, vals, nil
	}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, vals, os.NewSyscallError("inotify_init1", err)
	}
	w := &fileWatcher{f: os.NewFile(uintptr(fd), "inotify")}
	var watched []*watchedFile
	for _, fc := range files {
		path, err := resolveTrackPath(fc.Path)
		if err != nil {
			log.Error("track_file not watched: its directory does not exist; it has no effect (as keepalived removes it)", "track_file", fc.Name, "file", fc.Path, "err", err)
			continue
		}
		if err := initTrackFile(fc, path); err != nil {
			log.Error("track_file init_file", "track_file", fc.Name, "file", path, "err", err)
		}
		wd, err := unix.InotifyAddWatch(fd, filepath.Dir(path), unix.IN_CLOSE_WRITE|unix.IN_DELETE|unix.IN_MOVE)
		if err != nil {
			log.Error("track_file not watched", "track_file", fc.Name, "file", path, "err", os.NewSyscallError("inotify_add_watch", err))
			continue
		}
		wf := &watchedFile{cfg: fc, path: path, wd: wd}
		v, ok, why := readTrackFile(path)
		if why != "" {
			log.Warn("track_file: "+why, "track_file", fc.Name)
		}
		if ok {
			wf.last = v
		}
		vals[fc.Name] = wf.last
		watched = append(watched, wf)
	}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		w.loop(watched, log, report)
	}()
	return w, vals, nil
}

func (w *fileWatcher) loop(files []*watchedFile, log *slog.Logger, report func(string, int64)) {
	buf := make([]byte, 64*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
	for {
		n, err := w.f.Read(buf)
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				log.Error("track_file: inotify read", "err", err)
			}
			return
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			nameBytes := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
			off += unix.SizeofInotifyEvent + int(ev.Len)
			if ev.Mask&unix.IN_ISDIR != 0 {
				continue
			}
			name := string(nameBytes)
			for i, c := range nameBytes {
				if c == 0 {
					name = string(nameBytes[:i])
					break
				}
			}
			for _, f := range files {
				if int32(f.wd) != ev.Wd || filepath.Base(f.path) != name {
					continue
				}
				var v int64
				if ev.Mask&(unix.IN_DELETE|unix.IN_MOVED_FROM) == 0 {
					var ok bool
					var why string
					v, ok, why = readTrackFile(f.path)
					if why != "" {
						log.Warn("track_file: "+why, "track_file", f.cfg.Name)
					}
					if !ok {
						continue
					}
				}
				if v != f.last {
					f.last = v
					report(f.cfg.Name, v)
				}
			}
		}
	}
}

// close stops the watcher and waits for its goroutine.
func (w *fileWatcher) close() {
	if w == nil {
		return
	}
	w.once.Do(func() { w.f.Close() })
	w.wg.Wait()
}
