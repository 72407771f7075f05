"""Search components shared by the drivers: constraints, constrained sampling, evolution."""
