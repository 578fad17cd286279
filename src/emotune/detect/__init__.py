"""Face detectors (MTCNN, Haar, YuNet, RetinaFace), tracking, caches, weights, real test photographs."""
