"""Reading the picture: decoded frames and their figures, shot boundaries, spotting
(scenes, energy, hit points from the cut) and the reading that ``score`` without a shot
list uses, plus generated test video.
"""
