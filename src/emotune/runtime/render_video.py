"""``make video TRAJ=keyframes.csv OUT=clip.mp4`` (``python -m emotune.runtime.render_video traj=FILE out=FILE
[key=value ...]``, settings ``conf/render_video.yaml``): a synthetic clip that follows a V-A trajectory, with its
ground truth beside it."""

from __future__ import annotations

from omegaconf import DictConfig

from emotune.utils.command import command
from emotune.utils.errors import DataError


@command("render_video")
def main(cfg: DictConfig) -> None:
    """Render a clip from a keyframe trajectory."""
    from emotune.synthetic.video import VideoSpec, render_video

    s = cfg.spec
    spec = VideoSpec(fps=float(s.fps), width=int(s.width), height=int(s.height), head_motion=float(s.head_motion),
                     lighting=float(s.lighting), noise=float(s.noise), seed=int(s.seed))  # fmt: skip
    if spec.fps <= 0 or spec.width < 32 or spec.height < 32:
        raise DataError(f"fps={spec.fps}, size={spec.width}x{spec.height}: need fps > 0 and at least 32x32 pixels.")
    video, gt = render_video(str(cfg.traj), str(cfg.out), spec)
    print(f"Wrote {video} and {gt}")


if __name__ == "__main__":
    main()
