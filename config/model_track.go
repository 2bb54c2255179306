package config

import "time"

// TrackRef is one line of a track_file or track_process block of a
// vrrp_instance or vrrp_sync_group: NAME [weight W [reverse]]. A line
// without weight takes the definition's weight and reverse.
type TrackRef struct {
	Pos     Pos    `json:"-"`
	Name    string `json:"name"`
	Weight  int    `json:"weight"` // -254..254
	Reverse bool   `json:"reverse"`
}

// TrackProcess is a vrrp_track_process block.
type TrackProcess struct {
	Pos  Pos    `json:"-"`
	Name string `json:"name"`
	// Process is the first word of "process", Params the others.
	Process string   `json:"process"`
	Params  []string `json:"params,omitempty"`
	// ParamMatch is "", "initial" or "partial"; ParamMatchSet records a
	// param_match line (keepalived: with no parameters it means the
	// command must have none).
	ParamMatch    string `json:"param_match,omitempty"`
	ParamMatchSet bool   `json:"param_match_set,omitempty"`
	FullCommand   bool   `json:"full_command,omitempty"`
	Weight        int    `json:"weight"` // -254..254, default 1
	Reverse       bool   `json:"reverse"`
	Quorum        int    `json:"quorum"` // default 1
	// QuorumMax is the most matching processes for success; nil = no limit.
	QuorumMax      *int          `json:"quorum_max,omitempty"`
	ForkDelay      time.Duration `json:"fork_delay"`
	TerminateDelay time.Duration `json:"terminate_delay"`
}

func (c *Config) processTracker(name string) *TrackProcess {
	for i := range c.ProcessTrackers {
		if c.ProcessTrackers[i].Name == name {
			return &c.ProcessTrackers[i]
		}
	}
	return nil
}
