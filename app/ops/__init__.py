"""Operations: the probe runtime, the scheduler, health and the ops pages."""
