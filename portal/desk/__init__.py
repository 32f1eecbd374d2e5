"""The township supervisor's desk (工作台): workers, bulk assignment, handover and reviews."""
