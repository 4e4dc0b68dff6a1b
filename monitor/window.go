package monitor

import "time"

// Windows tumble: a version's current window closes after WindowSize rows
// or WindowDuration, whichever first, is compared with the reference, and
// is cleared for the next one. Windows are judged one by one; the alarms
// below turn a run of verdicts into a state, so one noisy window neither
// raises nor clears anything.

// minWindowRows is the fewest rows a window needs before the clock may
// close it: on a handful of rows every statistic is noise. A window the
// clock reaches with fewer rows stays open until it has them.
func minWindowRows(windowSize int) int { return min(100, windowSize) }

// Alarm is a debounced drift state: K consecutive drifted windows raise
// it, K consecutive clean ones clear it (K is Config.AlarmWindows).
type Alarm struct {
	Active bool `json:"active"`
	// Since is when the alarm last changed state (raised, or cleared);
	// zero if it never has.
	Since time.Time `json:"since,omitzero"`
	// Streak counts consecutive windows that disagree with the current
	// state; at K the state flips.
	Streak int `json:"streak"`
	// Raised counts how many times the alarm has been raised.
	Raised int `json:"raised"`
}

// observe folds one window's verdict into the alarm.
func (a *Alarm) observe(drifted bool, k int, now time.Time) {
	if drifted == a.Active {
		a.Streak = 0
		return
	}
	a.Streak++
	if a.Streak >= k {
		a.Active, a.Since, a.Streak = drifted, now, 0
		if drifted {
			a.Raised++
		}
	}
}
