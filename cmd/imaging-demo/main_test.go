package main

import "testing"

// The sample's images never declare more than the disk holding them uses.
func TestSampleSizesFitTheDisk(t *testing.T) {
	for _, used := range []uint64{100 << 30, 251 << 30, 20 << 30, 2 << 30, 4 << 40} {
		legacy, size := sampleSizes(used)
		total := uint64(legacy)*legacyBytes + sampleComplete*size
		if total > used {
			t.Errorf("disk with %d GiB used: images declare %d GiB", used>>30, total>>30)
		}
		if size < minImageSize {
			t.Errorf("disk with %d GiB used: images of %d bytes", used>>30, size)
		}
	}
	if legacy, _ := sampleSizes(251 << 30); legacy != sampleLegacy {
		t.Errorf("a 251 GiB disk has room for the legacy images, got %d", legacy)
	}
	if legacy, _ := sampleSizes(10 << 30); legacy != 0 {
		t.Errorf("a 10 GiB disk gets %d legacy images of 4 GB", legacy)
	}
}
